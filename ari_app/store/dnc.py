"""The internal do-not-call list: numbers we never call or text, whoever asks.

The list is only written here. It is read where a side effect is about to happen: before a dial
(``Lifecycle.attempts.begin``), before a text (the SMS sender), before a request is stored (intake). So an
entry added while a call is scheduled stops that call. The caller owns the session and commits.

Numbers are stored in E.164. Any valid number of any country may be listed: the allowed regions limit whom we
call, not whom we refuse to call.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.phone import PhoneError, normalise_phone
from .models import Dnc

REASON_MAX = 500
SOURCE_MAX = 60
IMPORT_MAX_ROWS = 50_000
IMPORT_ERRORS_SHOWN = 100  # a file of garbage should not make a garbage-sized answer
_HEADER_NAMES = frozenset({"phone", "number", "phone_number", "e164", "telephone", "tel"})
_ALL_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


@dataclass(frozen=True)
class DncEntry:
    phone: str
    reason: str | None
    source: str | None
    created_at: datetime

    def to_json(self) -> dict[str, str | None]:
        return {
            "phone": self.phone,
            "reason": self.reason,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based line of the file
    value: str  # what the cell held (shortened)
    code: str
    message: str


@dataclass(frozen=True)
class ImportReport:
    added: int
    already: int
    errors: tuple[RowError, ...]
    error_count: int  # all errors, of which ``errors`` shows the first IMPORT_ERRORS_SHOWN

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "already": self.already,
            "error_count": self.error_count,
            "errors": [
                {"line": e.line, "value": e.value, "code": e.code, "message": e.message} for e in self.errors
            ],
        }


def dnc_phone(raw: str, *, default_region: str) -> str:
    """A number to list, in E.164 (any country), or ``PhoneError`` naming what is wrong with it."""
    return normalise_phone(raw, default_region=default_region, allowed_regions=_ALL_REGIONS)


def _entry(row: Dnc) -> DncEntry:
    return DncEntry(phone=row.phone, reason=row.reason, source=row.source, created_at=row.created_at)


def _clip(text: str | None, limit: int) -> str | None:
    """One line of printable text (control characters dropped), at most ``limit`` characters, or None."""
    if not text:
        return None
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return cleaned[:limit] or None


async def is_listed(session: AsyncSession, phone: str) -> bool:
    return await session.get(Dnc, phone) is not None


async def get_entry(session: AsyncSession, phone: str) -> DncEntry | None:
    row = await session.get(Dnc, phone)
    return _entry(row) if row is not None else None


async def add_number(
    session: AsyncSession, phone: str, *, reason: str | None, source: str, now: datetime
) -> bool:
    """List an E.164 number; False when it was listed already (the first reason is kept)."""
    if await session.get(Dnc, phone) is not None:
        return False
    session.add(
        Dnc(phone=phone, reason=_clip(reason, REASON_MAX), source=_clip(source, SOURCE_MAX), created_at=now)
    )
    await session.flush()
    return True


async def remove_number(session: AsyncSession, phone: str) -> bool:
    """Take a number off the list; False when it was not on it."""
    result = await session.execute(delete(Dnc).where(Dnc.phone == phone))
    return bool(getattr(result, "rowcount", 0))


async def list_entries(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[DncEntry], int]:
    """A page of entries, newest first, and the total."""
    total = int(await session.scalar(select(func.count()).select_from(Dnc)) or 0)
    rows = await session.scalars(
        select(Dnc).order_by(Dnc.created_at.desc(), Dnc.phone).limit(limit).offset(offset)
    )
    return [_entry(r) for r in rows], total


@dataclass(frozen=True)
class ParsedRow:
    line: int
    phone: str
    reason: str | None


def parse_csv(text: str, *, default_region: str) -> tuple[list[ParsedRow], list[RowError]]:
    """Rows of ``phone[,reason]``, with or without a header line naming a ``phone`` column.

    Every bad row is reported with its line; good rows are normalised to E.164. Blank lines are skipped.
    """
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    phone_col, reason_col = 0, 1
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = True
        for cells in reader:
            line = reader.line_num
            if not cells or not any(c.strip() for c in cells):
                continue
            names = [c.strip().lower().lstrip("\ufeff") for c in cells]
            if first and _HEADER_NAMES.intersection(names):
                first = False
                phone_col = next(i for i, n in enumerate(names) if n in _HEADER_NAMES)
                reason_col = names.index("reason") if "reason" in names else -1
                continue
            first = False
            if len(rows) + len(errors) >= IMPORT_MAX_ROWS:
                errors.append(RowError(line, "", "too_many_rows", f"at most {IMPORT_MAX_ROWS} rows"))
                break
            raw = cells[phone_col] if phone_col < len(cells) else ""
            raw = raw.strip().removeprefix("'")  # our own CSV export guards "+..." cells with an apostrophe
            reason = cells[reason_col].strip() if 0 <= reason_col < len(cells) else None
            try:
                phone = dnc_phone(raw, default_region=default_region)
            except PhoneError as exc:
                errors.append(RowError(line, _clip(raw, 40) or "", exc.code, exc.message))
                continue
            rows.append(ParsedRow(line, phone, reason or None))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "", "bad_csv", f"not valid CSV: {exc}"))
    return rows, errors


async def import_rows(
    session: AsyncSession,
    rows: list[ParsedRow],
    errors: list[RowError],
    *,
    source: str,
    now: datetime,
) -> ImportReport:
    added = already = 0
    for row in rows:
        if await add_number(session, row.phone, reason=row.reason, source=source, now=now):
            added += 1
        else:
            already += 1
    return ImportReport(
        added=added,
        already=already,
        errors=tuple(errors[:IMPORT_ERRORS_SHOWN]),
        error_count=len(errors),
    )
