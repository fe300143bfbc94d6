"""The ``callback`` command: demo, serve, worker, simulator, db, sounds, users, tokens, dnc, config, check."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import re
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from ..errors import CallbackError
from ..logs import configure_logging


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """Run until done, or until SIGINT/SIGTERM cancels it cleanly."""

    async def main() -> int:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return 0

    return asyncio.run(main())


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo.run import run_demo, run_stories

    if args.once:
        return _run(run_stories(config=args.config, speed=args.speed, db=args.db, ari_log=args.ari_log))
    return _run(
        run_demo(
            config=args.config,
            speed=args.speed,
            scenario=args.scenario,
            port=args.port,
            db=args.db,
            ari_log=args.ari_log,
        )
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    return _run(
        serve(
            config=args.config,
            run_worker=not args.no_worker,
            run_web=True,
            ari_log=args.ari_log,
            port=args.port,
        )
    )


def _cmd_worker(args: argparse.Namespace) -> int:
    from .serve import serve

    return _run(serve(config=args.config, run_worker=True, run_web=False, ari_log=args.ari_log))


def _cmd_simulator(args: argparse.Namespace) -> int:
    from ..audio.manifest import effective_sounds_dir
    from ..simulator.server import serve

    # The prompts callback would play, so simulated playbacks last as long as the real files.
    sounds_dir = str(args.sounds_dir or effective_sounds_dir("./sounds"))

    async def main() -> int:
        await serve(
            args.host, args.port, args.ari_user, args.ari_password, args.scenario, args.speed, sounds_dir
        )
        return 0

    return _run(main())


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ..settings import load_settings
    from ..store.migrate import upgrade

    settings = load_settings(args.config)
    asyncio.run(upgrade(settings.database.url))
    print("database is at the latest revision")
    return 0


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

    demo = sub.add_parser("demo", help="everything embedded: SQLite, the ARI simulator, console SMS, web")
    demo.add_argument("--config", help="TOML config file (default: built-in demo defaults)")
    demo.add_argument("--speed", type=float, default=None, help="run the clock N times faster")
    demo.add_argument("--scenario", help="simulator scenario TOML (callee behaviour per number)")
    demo.add_argument("--port", type=int, default=8080, help="web port (default 8080)")
    demo.add_argument("--db", default=None, help="SQLite file (default ./callback.db)")
    demo.add_argument("--once", action="store_true", help="run the standard stories, check them, exit")
    demo.add_argument("--ari-log", help="append every ARI event received, one JSON line each")
    demo.set_defaults(func=_cmd_demo)

    serve = sub.add_parser("serve", help="web and one worker against a real Asterisk")
    serve.add_argument("--config", help="TOML config file")
    serve.add_argument("--no-worker", action="store_true", help="web only; workers run apart")
    serve.add_argument("--port", type=int, default=None, help="web port (default: web.port, 8080)")
    serve.add_argument("--ari-log", help="append every ARI event received, one JSON line each")
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser("worker", help="one worker: claims due attempts and makes the calls")
    worker.add_argument("--config", help="TOML config file")
    worker.add_argument("--ari-log", help="append every ARI event received, one JSON line each")
    worker.set_defaults(func=_cmd_worker)

    sim = sub.add_parser("simulator", help="the ARI simulator: a PBX stand-in speaking Asterisk's ARI")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8088, help="HTTP port, like Asterisk's (default 8088)")
    sim.add_argument("--ari-user", default="callback", help="ARI user callback logs in as (default callback)")
    sim.add_argument("--ari-password", default="callback", help="its password (default callback)")
    sim.add_argument(
        "--scenario", help="scenario TOML: how each number answers (default: all answer; docs/simulator.md)"
    )
    sim.add_argument("--speed", type=float, default=1.0, help="run callee timings N times faster (default 1)")
    sim.add_argument(
        "--sounds-dir",
        default=None,
        help="sounds dir whose manifest gives prompt lengths (default ./sounds, else the shipped prompts)",
    )
    sim.set_defaults(func=_cmd_simulator)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the migrations")
    up.add_argument("--config", help="TOML config file")
    up.set_defaults(func=_cmd_db_upgrade)

    from ..ops.check import register as register_check
    from .config import register as register_config
    from .dnc import register as register_dnc
    from .sounds import register as register_sounds
    from .tokens import register as register_tokens
    from .users import register as register_users

    register_sounds(sub)
    register_users(sub)
    register_tokens(sub)
    register_dnc(sub)
    register_config(sub)
    register_check(sub)
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


if __name__ == "__main__":
    sys.exit(main())
