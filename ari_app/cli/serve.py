"""``callback serve`` / ``callback worker``: the service against a real Asterisk, on the real clock."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..app import Runtime
from ..clock import RealClock
from ..settings import load_settings

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
