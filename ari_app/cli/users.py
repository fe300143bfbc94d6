"""``callback users add USERNAME``: a dashboard login. The password comes from a prompt (typed twice) or
from standard input with ``--password-stdin``; never from the command line, where ``ps`` and shell
history would show it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from ..errors import CallbackError


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise SystemExit("the passwords differ; nothing was changed")
    return first


async def add(config: str | None, username: str, password: str) -> int:
    from ..settings import load_settings
    from ..store import make_engine, make_sessionmaker
    from ..web.dashboard_auth import add_user

    settings = load_settings(config)
    engine = make_engine(settings.database.url)
    try:
        await add_user(make_sessionmaker(engine), username, password)
    finally:
        await engine.dispose()
    return 0


def _cmd_add(args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    try:
        asyncio.run(add(args.config, args.username, password))
    except CallbackError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"user {args.username.strip()!r} can now log in at /admin/")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = subparsers.add_parser("users", help="dashboard logins")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add_p = users_sub.add_parser("add", help="add a dashboard user (asks for the password)")
    add_p.add_argument("username")
    add_p.add_argument("--config", help="TOML config file")
    add_p.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    add_p.set_defaults(func=_cmd_add)
