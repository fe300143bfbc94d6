"""The database being away for a moment (a restart, a failover, a cut connection), and what to do about it.

A background loop that meets such an error (``is_transient``) logs it and tries again next round; a write
that is safe to repeat is retried with ``retry_while_unavailable``. Anything else is a bug and is not caught
here: a constraint violation or a broken statement fails the same way every time, so retrying it only
delays the traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL SQLSTATEs (appendix A of its manual) that say "the server, not the statement": class 08, the
# connection (08003/08006 are also what asyncpg reports for a socket that died mid-query); class 53, out of
# connections, memory or disk, which an operator or the other clients going away resolves; the server
# shutting down, crashing or still starting (57P01-57P03) and a session closed as idle (57P05); and the three
# a concurrent transaction causes, where the whole transaction run again is the documented answer:
# serialization failure, deadlock, a lock NOWAIT or lock_timeout could not get. Not 57P04 (the database was
# dropped) nor 57014 (a statement cancelled, or slower than statement_timeout: it will be slow again).
_PG_TRANSIENT_CLASSES = ("08", "53")
_PG_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "57P05", "40001", "40P01", "55P03"})
# SQLite reports a wrong statement and a locked file with the same OperationalError class, so its result code
# decides: busy or locked (another connection held the lock past the busy timeout), and a full disk (53100).
_SQLITE_TRANSIENT_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL})


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the database was unreachable or busy for a moment, so the same work may succeed
    when tried again; False for what the statement itself caused (a constraint, a syntax error, bad data, a
    missing table), which fails again the same way.

    Transient: a connection SQLAlchemy found dead (``connection_invalidated``: the socket closed, asyncpg's
    "connection is closed", aiosqlite's "no active connection"); the SQLSTATEs and SQLite codes above; an
    OperationalError from a driver that gives neither (PEP 249 reserves that class for the database's
    operation, and SQLAlchemy raises it for a closed aiosqlite connection); a refused, reset or unreachable
    socket (asyncpg raises the bare ``OSError`` when the server is down at connect) and a timeout (asyncpg's
    connect and command timeouts); no connection free in the pool in time. The class alone would be wrong both
    ways: asyncpg turns most server errors, a shutdown as well as a division by zero, into the base
    ``DBAPIError``, and SQLite raises OperationalError for a syntax error.
    """
    if isinstance(exc, (PoolTimeout, DisconnectionError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str):
            return sqlstate[:2] in _PG_TRANSIENT_CLASSES or sqlstate in _PG_TRANSIENT_STATES
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if isinstance(code, int):
            return (code & 0xFF) in _SQLITE_TRANSIENT_CODES  # the primary code of an extended one
        return isinstance(exc, OperationalError)
    return isinstance(exc, (OSError, TimeoutError))


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
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s: database unavailable (%s); retrying in %.1f s", what, describe(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
