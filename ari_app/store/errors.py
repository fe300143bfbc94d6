"""The database being away for a moment (a restart, a failover, a cut connection), and what to do about it.

A background loop that meets one of these logs it and tries again next round; a write that is safe to repeat
is retried with ``retry_while_unavailable``. Anything else is a bug and is not caught here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)
T = TypeVar("T")

# Driver errors (wrapped by SQLAlchemy), a refused or reset connection (asyncpg raises the bare OSError when
# the server is down at connect), a connect timeout, an exhausted pool.
DB_UNAVAILABLE: tuple[type[BaseException], ...] = (DBAPIError, OSError, TimeoutError, PoolTimeout)

_FIRST_DELAY = 0.2
_MAX_DELAY = 5.0


def describe(exc: BaseException) -> str:
    """One line for the log: the class and the first line of the driver's message (no SQL, no parameters)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


async def retry_while_unavailable(op: Callable[[], Awaitable[T]], *, what: str, within: float = 30.0) -> T:
    """Run ``op`` (one whole transaction, safe to run twice) again while the database is away, for at most
    ``within`` seconds of wall time; then the last error is raised."""
    deadline = time.monotonic() + within
    delay = _FIRST_DELAY
    while True:
        try:
            return await op()
        except DB_UNAVAILABLE as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: database unavailable (%s); retrying in %.1f s", what, describe(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
