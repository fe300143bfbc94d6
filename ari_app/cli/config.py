"""``callback config show``: the effective settings (file + environment + defaults), with secrets masked.

Masked: every ``SecretStr``, passwords in URLs (``postgresql://user:****@host/db``) and URL query parameters
whose name says they hold a credential. Safe to paste into a bug report.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from ..errors import CallbackError
from ..settings import Settings, load_settings

MASK = "****"
_SECRET_NAME = re.compile(r"pass|secret|token|key|auth|sig|credential", re.IGNORECASE)


def redact_url(value: str) -> str:
    """``value`` with any password and credential-looking query parameters masked; other text unchanged."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return value
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_NAME.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return {name: _redact(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return redact_url(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)  # times, enums: their plain text


def redacted_settings(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready data with nothing secret in it."""
    result: dict[str, Any] = _redact(settings)
    return result


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    config = subparsers.add_parser("config", help="inspect the configuration")
    sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    show = sub.add_parser("show", help="print the effective settings as JSON, secrets masked")
    show.add_argument("--config", help="TOML config file (default: built-in defaults)")
    show.set_defaults(func=_cmd_show)


def _cmd_show(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except CallbackError as exc:
        print(f"callback: {exc.message}", file=sys.stderr)
        return 1
    json.dump(redacted_settings(settings), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
