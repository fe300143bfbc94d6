"""``callback demo``: everything embedded (SQLite, the ARI simulator, console SMS, web); ``--once`` runs the
standard stories and checks them."""

from __future__ import annotations

import argparse

from .run import run


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo.run import run_demo, run_stories

    if args.once:
        return run(run_stories(config=args.config, speed=args.speed, db=args.db, ari_log=args.ari_log))
    return run(
        run_demo(
            config=args.config,
            speed=args.speed,
            scenario=args.scenario,
            port=args.port,
            db=args.db,
            ari_log=args.ari_log,
        )
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo", help="everything embedded: SQLite, the ARI simulator, console SMS, web"
    )
    demo.add_argument("--config", help="TOML config file (default: built-in demo defaults)")
    demo.add_argument("--speed", type=float, default=None, help="run the clock N times faster")
    demo.add_argument("--scenario", help="simulator scenario TOML (callee behaviour per number)")
    demo.add_argument("--port", type=int, default=8080, help="web port (default 8080)")
    demo.add_argument("--db", default=None, help="SQLite file (default ./callback.db)")
    demo.add_argument("--once", action="store_true", help="run the standard stories, check them, exit")
    demo.add_argument("--ari-log", help="append every ARI event received, one JSON line each")
    demo.set_defaults(func=_cmd_demo)
