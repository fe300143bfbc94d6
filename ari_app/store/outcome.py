"""An attempt's outcome written as Core statements: one per table (profiled: the ORM's flushes interleaved
with reads cost the end of a call ~15 statements; see bench/README.md, issue 17). Statements are built once
(they keep their compiled-cache key) and run on the session's connection inside ``run_sync``."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, bindparam, delete, insert

from .models import Base
from .rows import Row

_TABLES = Base.metadata.tables
_TAGS, _EVENTS = _TABLES["contact_tags"], _TABLES["contact_events"]

_DELETE_TAGS = delete(_TAGS).where(
    _TAGS.c.contact_id == bindparam("contact_id"), _TAGS.c.tag.in_(bindparam("tags", expanding=True))
)
_INSERT_TAGS = insert(_TAGS)
_INSERT_ATTEMPT = insert(_TABLES["attempts"])
_INSERT_SMS = insert(_TABLES["sms_outbox"])
_INSERT_NOTES = insert(_TABLES["notes"])
_INSERT_EVENTS = insert(_EVENTS)
# Several rows and their ids in one statement (``insertmanyvalues``). Not in the order given: that would
# cost a statement per row on SQLite (no sentinel column); each row's type tells which id is whose.
_INSERT_EVENTS_WITH_IDS = insert(_EVENTS).returning(_EVENTS.c.id, _EVENTS.c.type)
_INSERT_DELIVERIES = insert(_TABLES["webhook_deliveries"])


def replace_tags(conn: Connection, contact_id: int, removed: Collection[str], added: list[Row]) -> None:
    if removed:
        conn.execute(_DELETE_TAGS, {"contact_id": contact_id, "tags": sorted(removed)})
    if added:
        conn.execute(_INSERT_TAGS, added)


def insert_attempt(conn: Connection, row: Row) -> None:
    conn.execute(_INSERT_ATTEMPT, [row])


def insert_sms(conn: Connection, row: Row) -> int:
    key = conn.execute(_INSERT_SMS, row).inserted_primary_key
    assert key is not None  # a single-row insert always has one
    return int(key[0])


def insert_notes(conn: Connection, rows: list[Row]) -> None:
    if rows:
        conn.execute(_INSERT_NOTES, rows)


def insert_events(conn: Connection, rows: list[Row], *, id_of: str | None) -> int | None:
    """The events in one statement, and the id of the one of type ``id_of`` (one of that type at most)."""
    if not rows:
        return None
    if id_of is None:
        conn.execute(_INSERT_EVENTS, rows)
        return None
    ids = {type_: int(id_) for id_, type_ in conn.execute(_INSERT_EVENTS_WITH_IDS, rows)}
    return ids[id_of]


def insert_deliveries(conn: Connection, rows: list[Row]) -> None:
    if rows:
        conn.execute(_INSERT_DELIVERIES, rows)
