"""Running a command's coroutine the way a service stops: SIGINT or SIGTERM cancels it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


def run(coro: Coroutine[Any, Any, int]) -> int:
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
