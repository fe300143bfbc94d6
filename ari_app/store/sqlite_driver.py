"""SQLite through aiosqlite with one round trip to its thread per statement.

SQLAlchemy's aiosqlite adapter makes three or four hand-offs to aiosqlite's worker thread per statement
(create a cursor, execute, fetch the rows, close the cursor), each a thread wake-up and an event-loop
wake-up (~40-60 us of CPU). Intake spends a quarter of its time there. This cursor does all four in one
call on that thread and keeps the rows, so a statement costs one hand-off; the SQL, the transaction
handling and the error translation are SQLAlchemy's and the driver's, unchanged.

It plugs into SQLAlchemy's own adapter (``AsyncAdapt_aiosqlite_connection._cursor_cls``, SQLAlchemy 2.1)
and aiosqlite's queue (``Connection._execute``, ``Connection._conn``); ``dbapi()`` returns None when either
is not there, and the engine then uses the stock adapter.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.util.concurrency import await_

try:
    import aiosqlite
    from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
except ImportError:  # pragma: no cover - aiosqlite is a dependency
    aiosqlite = None  # type: ignore[assignment]
    sa_aiosqlite = None  # type: ignore[assignment]

_Outcome = tuple[Any, list[Any], int, int | None]


class OneTripCursor:
    """A DB-API cursor for SQLAlchemy's async bridge: execute, fetch and close in one trip."""

    server_side = False

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._driver = adapt_connection._connection  # the aiosqlite.Connection
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def _run(self, many: bool, operation: str, parameters: Any) -> None:
        try:
            conn: sqlite3.Connection = self._driver._conn
        except ValueError as error:  # closed: translated to a disconnect, as the stock cursor's would be
            self._adapt_connection._handle_exception(error)

        def on_thread() -> _Outcome:
            cursor = conn.cursor()
            try:
                if many:
                    cursor.executemany(operation, parameters)
                elif parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        try:
            outcome: _Outcome = await_(self._driver._execute(on_thread))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description, rows, self.rowcount, self.lastrowid = outcome
        self._rows = collections.deque(rows)

    def execute(self, operation: str, parameters: Any = None) -> None:
        self._run(False, operation, parameters)

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._run(True, operation, seq_of_parameters)

    def close(self) -> None:
        self._rows.clear()  # the driver's cursor was closed on the thread already

    async def _async_soft_close(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(size or self.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()


def dbapi() -> Any | None:
    """The DB-API module for ``create_async_engine(..., module=...)`` with one-trip cursors, or None when
    the installed SQLAlchemy or aiosqlite doesn't have the hooks this relies on."""
    if sa_aiosqlite is None or aiosqlite is None:
        return None
    base_connection = getattr(sa_aiosqlite, "AsyncAdapt_aiosqlite_connection", None)
    base_dbapi = getattr(sa_aiosqlite, "AsyncAdapt_aiosqlite_dbapi", None)
    if base_connection is None or base_dbapi is None or not hasattr(base_connection, "_cursor_cls"):
        return None
    if not hasattr(aiosqlite.Connection, "_execute"):
        return None

    class OneTripConnection(base_connection):  # type: ignore[misc, valid-type]
        __slots__ = ()
        _cursor_cls = OneTripCursor

    class OneTripDbapi(base_dbapi):  # type: ignore[misc, valid-type]
        def connect(self, *arg: Any, **kw: Any) -> Any:
            stock = super().connect(*arg, **kw)
            return OneTripConnection(self, stock._connection)

    return OneTripDbapi(aiosqlite, sqlite3)
