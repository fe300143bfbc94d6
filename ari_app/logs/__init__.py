"""Log output: plain text or one JSON object per line, with the ids of what a line is about, never a secret.

``configure_logging("json")`` puts one handler on the root logger. Every line carries, when known, the HTTP
request id, the contact id and the attempt id: code binds them with ``log_ids(...)`` (context variables, so
they follow the asyncio task that set them and the tasks it starts). A line logged from a worker's
``attempt-N`` task gets ``attempt_id`` N even where nothing bound it.

Redaction happens in the formatter, on the finished text (message, arguments and traceback alike): URL
credentials (``api_key=``, ``user:password@``), ``Authorization`` headers, bearer tokens, ``password=`` /
``token=`` / ``secret=`` parameters, and the secret values of the loaded settings (``protect_settings``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pydantic import BaseModel, SecretStr

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

_REQUEST_ID: ContextVar[str | None] = ContextVar("callback_request_id", default=None)
_CONTACT_ID: ContextVar[int | None] = ContextVar("callback_contact_id", default=None)
_ATTEMPT_ID: ContextVar[int | None] = ContextVar("callback_attempt_id", default=None)
_ATTEMPT_TASK = re.compile(r"(?:attempt|lease)-(\d+)\Z")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(api_key=)[^&\s'\"]+", re.IGNORECASE), r"\1***"),
    (re.compile(r"\b((?:password|passwd|pwd|token|secret|auth_token)=)[^&\s'\"]+", re.IGNORECASE), r"\1***"),
    (
        re.compile(
            r"(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic)\s+)?[^\s'\",}]+", re.IGNORECASE
        ),
        r"\1***",
    ),
    (re.compile(r"\b(bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE), r"\1***@"),
)
_MIN_SECRET_LEN = 4  # shorter values would blank ordinary words


class Redactor:
    """Blanks credentials in a finished log line; knows patterns and, once told, the configured secrets."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, *values: str) -> None:
        self._values.update(v for v in values if len(v) >= _MIN_SECRET_LEN)

    def __call__(self, text: str) -> str:
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, "***")
        return text


# ------------------------------------------------------------------------------------ the ids


@contextlib.contextmanager
def log_ids(
    *, request_id: str | None = None, contact_id: int | None = None, attempt_id: int | None = None
) -> Iterator[None]:
    """Tag every line logged inside the block (and in tasks started from it) with these ids."""
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = []
    if request_id is not None:
        tokens.append((_REQUEST_ID, _REQUEST_ID.set(request_id)))
    if contact_id is not None:
        tokens.append((_CONTACT_ID, _CONTACT_ID.set(contact_id)))
    if attempt_id is not None:
        tokens.append((_ATTEMPT_ID, _ATTEMPT_ID.set(attempt_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind_log_ids(*, contact_id: int | None = None, attempt_id: int | None = None) -> None:
    """Tag the rest of the current task (e.g. one attempt's task, once its contact is known)."""
    if contact_id is not None:
        _CONTACT_ID.set(contact_id)
    if attempt_id is not None:
        _ATTEMPT_ID.set(attempt_id)


def current_log_ids() -> dict[str, str | int]:
    ids: dict[str, str | int] = {}
    if (request_id := _REQUEST_ID.get()) is not None:
        ids["request_id"] = request_id
    if (contact_id := _CONTACT_ID.get()) is not None:
        ids["contact_id"] = contact_id
    attempt_id = _ATTEMPT_ID.get()
    if attempt_id is None:
        attempt_id = _attempt_from_task()
    if attempt_id is not None:
        ids["attempt_id"] = attempt_id
    return ids


def _attempt_from_task() -> int | None:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop in this thread
        return None
    m = _ATTEMPT_TASK.match(task.get_name()) if task is not None else None
    return int(m.group(1)) if m else None


# ------------------------------------------------------------------------------ the formatters


class TextFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = current_log_ids()
        if ids:
            # Named as ids ("attempt_id=3"), so they can't be read as a call's number ("call 2 of 2").
            text += " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return self.redactor(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the ids, and exc when there is one."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.redactor(record.getMessage()),
            **current_log_ids(),
        }
        if record.exc_info:
            line["exc"] = self.redactor(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = self.redactor(record.exc_text)
        if record.stack_info:
            line["stack"] = self.redactor(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class _CallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so that configuring again replaces it instead of adding a second one."""

    redactor: Redactor


def configure_logging(
    fmt: LogFormat = "text", *, verbose: bool = False, stream: IO[str] | None = None
) -> Redactor:
    """Install our handler on the root logger (replacing an earlier one of ours); returns its redactor."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _CallbackHandler):
            root.removeHandler(handler)
    redactor = Redactor()
    handler = _CallbackHandler(stream or sys.stderr)
    handler.redactor = redactor
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else TextFormatter(redactor))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Third-party chatter stays at warnings unless asked for.
    for name in ("aiohttp.access", "websockets", "sqlalchemy", "alembic"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    return redactor


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret the settings hold, except values left at their published defaults."""
    found: list[str] = []
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            default = field.default.get_secret_value() if isinstance(field.default, SecretStr) else None
            if value.get_secret_value() and value.get_secret_value() != default:
                found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found += secret_values(value)
    database = getattr(getattr(settings, "database", None), "url", None)
    if isinstance(database, str):
        m = re.search(r"://[^:/@\s]*:([^@\s/]+)@", database)
        if m:
            found.append(m.group(1))
    return found


def protect_settings(settings: BaseModel) -> None:
    """Teach the installed handler(s) the configured secrets, so their values never reach a log line."""
    values = secret_values(settings)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _CallbackHandler):
            handler.redactor.add(*values)
