"""The ``callback`` command: demo, serve, worker, simulator, db, sounds, users, tokens, dnc, config, check,
amd.

One module per command (or group of subcommands), each with a ``register(subparsers)``; ``main`` is the
entry point of the installed script (``callback = "ari_app.cli:main"``) and of ``python -m ari_app.cli``.
"""

from __future__ import annotations

import argparse
import errno
import re
import sys

from ..errors import CallbackError
from ..logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callback",
        description="Request-a-callback for Asterisk: rings the admin first, then the lead; bridges them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text or one JSON object each",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    from . import amd, check, config, db, demo, dnc, serve, simulator, sounds, tokens, users

    demo.register(sub)
    serve.register(sub)
    simulator.register(sub)
    db.register(sub)
    sounds.register(sub)
    users.register(sub)
    tokens.register(sub)
    dnc.register(sub)
    config.register(sub)
    check.register(sub)
    amd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_format, verbose=args.verbose)
    try:
        return int(args.func(args))
    except CallbackError as exc:
        print(f"callback: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"callback: {_address_in_use(exc)}", file=sys.stderr)
        return 2


def _address_in_use(exc: OSError) -> str:
    """One line for a port someone else holds, instead of the bind traceback."""
    m = re.search(r"\('([^']*)', (\d+)\)", str(exc))
    where = f"{m.group(1)}:{m.group(2)}" if m else "the port"
    return f"{where} is already in use (another callback or program?): pick another with --port N"
