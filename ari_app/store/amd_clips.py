"""AMD clips kept with their attempts (settings ``[amd] record_clips``): the first seconds of what the
lead's side sent on an answered final attempt, a ``.wav`` in ``[amd] clips_dir`` named by the attempt,
deleted after ``clip_retention_days``. ``callback amd tune --from-db`` replays the labelled ones."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.amd import Label
from .models import Attempt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredClip:
    attempt_id: int
    label: Label
    path: Path


class ClipStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], folder: Path, retention_days: int) -> None:
        self.sessions = sessions
        self.folder = folder
        self.retention = timedelta(days=retention_days)

    def _file(self, attempt_id: int) -> str:
        return f"attempt-{attempt_id}.wav"

    async def save(self, attempt_id: int, audio: bytes, now: datetime) -> None:
        """Write the clip and note it on the attempt; clips past their retention go at the same time."""
        name = self._file(attempt_id)
        # The note first: a note without its file is skipped by `labelled`, a file without a note would
        # never be purged.
        async with self.sessions.begin() as session:
            await session.execute(
                update(Attempt).where(Attempt.id == attempt_id).values(lead_clip=name, lead_clip_at=now)
            )
        await asyncio.to_thread(self._write, name, audio)
        await self.purge(now)

    def _write(self, name: str, audio: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.part"
        tmp.write_bytes(audio)
        tmp.replace(self.folder / name)

    async def purge(self, now: datetime) -> int:
        """Delete the clips kept longer than the retention allows (file and note); returns how many."""
        cutoff = now - self.retention
        async with self.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(Attempt.id, Attempt.lead_clip).where(
                        Attempt.lead_clip.is_not(None), Attempt.lead_clip_at < cutoff
                    )
                )
            ).all()
            if not rows:
                return 0
            await session.execute(
                update(Attempt)
                .where(Attempt.id.in_([r.id for r in rows]))
                .values(lead_clip=None, lead_clip_at=None)
            )
        for row in rows:
            (self.folder / Path(str(row.lead_clip)).name).unlink(missing_ok=True)
        log.info("deleted %d AMD clips older than %s days", len(rows), self.retention.days)
        return len(rows)

    async def labelled(self) -> list[StoredClip]:
        """The kept clips an admin labelled, oldest first (a clip whose file is gone is left out)."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Attempt.id, Attempt.lead_clip, Attempt.lead_label)
                    .where(Attempt.lead_clip.is_not(None), Attempt.lead_label.is_not(None))
                    .order_by(Attempt.id)
                )
            ).all()
        out: list[StoredClip] = []
        for row in rows:
            path = self.folder / Path(str(row.lead_clip)).name
            if path.is_file():
                out.append(StoredClip(row.id, Label(row.lead_label), path))
        return out
