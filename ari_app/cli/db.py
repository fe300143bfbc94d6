"""``callback db upgrade``: apply the migrations."""

from __future__ import annotations

import argparse
import asyncio


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ..settings import load_settings
    from ..store.migrate import upgrade

    settings = load_settings(args.config)
    asyncio.run(upgrade(settings.database.url))
    print("database is at the latest revision")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the migrations")
    up.add_argument("--config", help="TOML config file")
    up.set_defaults(func=_cmd_db_upgrade)
