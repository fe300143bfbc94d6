"""``GET /api/v1/contacts.csv``: every contact as CSV for a spreadsheet (bearer token).

Names and stages are whatever people typed. A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` (and tab or CR, which some treat the same) as a formula, so such cells get a leading apostrophe: the
spreadsheet then shows the text as typed. Phone numbers start with ``+`` and are guarded like everything else;
the do-not-call import takes the apostrophe off again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from aiohttp import web
from sqlalchemy import select

from ..store.models import Contact, ContactTag
from .keys import SERVICES

COLUMNS = (
    "id",
    "phone",
    "first_name",
    "last_name",
    "pipeline_stage",
    "tags",
    "sms_opted_out",
    "number_invalid",
    "created_at",
    "updated_at",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BATCH = 500


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_lines(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def _row(contact: Contact, tags: list[str]) -> tuple[object, ...]:
    return (
        contact.id,
        contact.phone,
        contact.first_name,
        contact.last_name,
        contact.pipeline_stage or "",
        "; ".join(sorted(tags)),
        "yes" if contact.sms_opted_out else "no",
        "yes" if contact.number_invalid else "no",
        contact.created_at.isoformat(),
        contact.updated_at.isoformat(),
    )


async def contacts_csv(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="contacts.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write(csv_lines([COLUMNS]).encode())
    after = 0
    while True:  # in id order, a batch at a time: the list can be long
        async with services.sessions() as session:
            contacts = list(
                await session.scalars(
                    select(Contact).where(Contact.id > after).order_by(Contact.id).limit(_BATCH)
                )
            )
            if not contacts:
                break
            tags: dict[int, list[str]] = {}
            for contact_id, tag in await session.execute(
                select(ContactTag.contact_id, ContactTag.tag).where(
                    ContactTag.contact_id.in_([c.id for c in contacts])
                )
            ):
                tags.setdefault(contact_id, []).append(tag)
        await response.write(csv_lines(_row(c, tags.get(c.id, [])) for c in contacts).encode())
        after = contacts[-1].id
    await response.write_eof()
    return response
