"""This installation's id: read it, or generate and store it on first start (``calls/ids.py`` says why)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Installation

_KEY = 1


async def installation_id(
    sessions: async_sessionmaker[AsyncSession], *, configured: str = "", generate: Callable[[], str]
) -> str:
    """The configured id wins (and is stored, so the dashboard and ``check`` agree); otherwise the stored one,
    or a new one from ``generate``. Two workers starting at once on PostgreSQL: the second insert fails on the
    key and that worker reads the first one's id."""
    async with sessions() as session:
        row = await session.get(Installation, _KEY)
        if row is not None and (not configured or row.installation_id == configured):
            return row.installation_id
    try:
        async with sessions.begin() as session:
            row = await session.get(Installation, _KEY)
            if row is None:
                session.add(Installation(key=_KEY, installation_id=configured or generate()))
            elif configured:
                row.installation_id = configured
    except IntegrityError:
        pass
    async with sessions() as session:
        stored = await session.scalar(select(Installation.installation_id).where(Installation.key == _KEY))
    assert stored is not None
    return stored
