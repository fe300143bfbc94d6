"""``callback dnc add|remove|import|list``: the do-not-call list, straight to the database."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import RealClock
from ..errors import CallbackError
from ..settings import Settings, load_settings
from ..store import dnc, make_engine, make_sessionmaker

Job = Callable[[Settings, async_sessionmaker[AsyncSession]], Awaitable[int]]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("dnc", help="the internal do-not-call list")
    sub = parser.add_subparsers(dest="dnc_command", required=True, metavar="COMMAND")

    add = sub.add_parser("add", help="never call or text this number")
    add.add_argument("phone")
    add.add_argument("--reason", default="", help="why (shown in the list)")
    add.set_defaults(func=_runner(_add))

    remove = sub.add_parser("remove", help="take a number off the list")
    remove.add_argument("phone")
    remove.set_defaults(func=_runner(_remove))

    imp = sub.add_parser("import", help="add the numbers of a CSV file: phone[,reason], optional header")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=_runner(_import))

    lst = sub.add_parser("list", help="show the list, newest first")
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=_runner(_list))

    for p in (add, remove, imp, lst):
        p.add_argument("--config", help="TOML config file")


def _runner(job: Callable[[argparse.Namespace], Job]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            settings = load_settings(args.config)
            return asyncio.run(_with_database(settings, job(args)))
        except CallbackError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1

    return run


async def _with_database(settings: Settings, job: Job) -> int:
    engine = make_engine(settings.database.url)
    try:
        return await job(settings, make_sessionmaker(engine))
    finally:
        await engine.dispose()


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _add(args: argparse.Namespace) -> Job:
    async def job(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
        phone = dnc.dnc_phone(args.phone, default_region=settings.business.region)
        async with sessions.begin() as session:
            added = await dnc.add_number(
                session, phone, reason=args.reason or None, source=_who(), now=RealClock().now()
            )
        print(f"{phone} {'added to' if added else 'was already on'} the do-not-call list")
        return 0

    return job


def _remove(args: argparse.Namespace) -> Job:
    async def job(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
        phone = dnc.dnc_phone(args.phone, default_region=settings.business.region)
        async with sessions.begin() as session:
            removed = await dnc.remove_number(session, phone)
        print(f"{phone} {'removed from' if removed else 'is not on'} the do-not-call list")
        return 0 if removed else 1

    return job


def _import(args: argparse.Namespace) -> Job:
    async def job(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
        try:
            text = args.file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: can't read {args.file}: {exc}", file=sys.stderr)
            return 1
        rows, errors = dnc.parse_csv(text, default_region=settings.business.region)
        async with sessions.begin() as session:
            report = await dnc.import_rows(session, rows, errors, source=_who(), now=RealClock().now())
        for e in report.errors:
            print(f"{args.file}:{e.line}: {e.value!r}: {e.message} ({e.code})", file=sys.stderr)
        print(f"added {report.added}, already listed {report.already}, refused {report.error_count}")
        return 1 if report.error_count else 0

    return job


def _list(args: argparse.Namespace) -> Job:
    async def job(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
        async with sessions() as session:
            entries, total = await dnc.list_entries(session, limit=max(1, args.limit), offset=0)
        for e in entries:
            print(f"{e.phone:<16} {e.created_at:%Y-%m-%d %H:%M} {e.source or '':<20} {e.reason or ''}")
        print(f"{total} number(s) on the list", file=sys.stderr)
        return 0

    return job
