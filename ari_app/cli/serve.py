"""``callback serve`` / ``callback worker``: the service against a real Asterisk, on the real clock."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from typing import Any

from ..app import Runtime
from ..clock import RealClock
from ..settings import load_settings
from .run import run

log = logging.getLogger("callback")


async def serve(
    *,
    config: str | None,
    run_worker: bool,
    run_web: bool,
    ari_log: str | None = None,
    port: int | None = None,
) -> int:
    overrides: dict[str, Any] = {}
    if ari_log:
        overrides["ari"] = {"log_file": ari_log}
    if port is not None:
        overrides["web"] = {"port": port}
    settings = load_settings(config, overrides=overrides or None)
    async with Runtime(settings, RealClock(), run_worker=run_worker, run_web=run_web) as runtime:
        freeze_start_up_objects()
        if runtime.web_url:
            log.info("web on %s", runtime.web_url)
        if run_worker:
            log.info("worker %s on ARI %s", settings.ari.app, settings.ari.url)
        try:
            await runtime.wait_stopped()
        except asyncio.CancelledError:
            log.info("stopping: no new calls; live calls may finish")
    if runtime.crashed is not None:
        log.error("exiting: %s stopped unexpectedly", runtime.crashed)
        return 1
    return 0


def freeze_start_up_objects() -> None:
    """Leave what start-up made (modules, mappers, settings, the app: ~120,000 objects that live as long as
    the process) out of the garbage collector's full passes. Each full pass walked all of them: ~100 ms of
    CPU and a pause for every request and call in flight, a few times a minute under load (bench/README.md).
    A larger first generation lets a call's short-lived objects die young instead of being promoted and
    walked again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def _cmd_serve(args: argparse.Namespace) -> int:
    return run(
        serve(
            config=args.config,
            run_worker=not args.no_worker,
            run_web=True,
            ari_log=args.ari_log,
            port=args.port,
        )
    )


def _cmd_worker(args: argparse.Namespace) -> int:
    return run(serve(config=args.config, run_worker=True, run_web=False, ari_log=args.ari_log))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve_p = subparsers.add_parser("serve", help="web and one worker against a real Asterisk")
    serve_p.add_argument("--config", help="TOML config file")
    serve_p.add_argument("--no-worker", action="store_true", help="web only; workers run apart")
    serve_p.add_argument("--port", type=int, default=None, help="web port (default: web.port, 8080)")
    serve_p.add_argument("--ari-log", help="append every ARI event received, one JSON line each")
    serve_p.set_defaults(func=_cmd_serve)

    worker = subparsers.add_parser("worker", help="one worker: claims due attempts and makes the calls")
    worker.add_argument("--config", help="TOML config file")
    worker.add_argument("--ari-log", help="append every ARI event received, one JSON line each")
    worker.set_defaults(func=_cmd_worker)
