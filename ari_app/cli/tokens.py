"""``callback tokens add NAME`` / ``list`` / ``revoke NAME``: bearer tokens for the JSON API.

A token is printed once, when it is made; the database keeps only its sha256 (``api_tokens``), so a lost
token is revoked and replaced, never shown again. ``api.token`` (CALLBACK_API_TOKEN) works beside them.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


async def _with_sessions(
    config: str | None, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    from ..settings import load_settings
    from ..store import make_engine, make_sessionmaker
    from ..store.migrate import upgrade

    settings = load_settings(config)
    await upgrade(settings.database.url)  # a fresh database gets its tables first
    engine = make_engine(settings.database.url)
    try:
        return await work(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def _cmd_add(args: argparse.Namespace) -> int:
    from ..web.auth import add_api_token

    token = asyncio.run(_with_sessions(args.config, lambda s: add_api_token(s, args.name)))
    print(f"API token {args.name.strip()!r} (shown this once; only its hash is stored):")
    print(token)
    print(f"use it as the header  Authorization: Bearer {token}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from ..web.auth import list_api_tokens

    tokens = asyncio.run(_with_sessions(args.config, list_api_tokens))
    if not tokens:
        print("no API tokens in the database (api.token from the config, if set, still works)")
        return 0
    for name, created in tokens:
        print(f"{name:<32} created {created:%Y-%m-%d %H:%M}")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    from ..web.auth import revoke_api_token

    if not asyncio.run(_with_sessions(args.config, lambda s: revoke_api_token(s, args.name))):
        print(f"error: no API token called {args.name.strip()!r} (see `callback tokens list`)")
        return 1
    print(f"API token {args.name.strip()!r} revoked: requests with it now get 401")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = subparsers.add_parser("tokens", help="bearer tokens for the JSON API (add, list, revoke)")
    sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    add_p = sub.add_parser("add", help="make a token called NAME and print it once")
    add_p.add_argument("name", metavar="NAME", help="who uses it, e.g. crm")
    add_p.set_defaults(func=_cmd_add)
    list_p = sub.add_parser("list", help="the stored tokens' names and dates (never the tokens)")
    list_p.set_defaults(func=_cmd_list)
    revoke_p = sub.add_parser("revoke", help="delete the token called NAME")
    revoke_p.add_argument("name", metavar="NAME")
    revoke_p.set_defaults(func=_cmd_revoke)
    for p in (add_p, list_p, revoke_p):
        p.add_argument("--config", help="TOML config file (database.url)")
