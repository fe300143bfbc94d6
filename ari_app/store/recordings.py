"""Messages callers left, kept by callback (fetched from Asterisk's stored recordings, never left only there).

One file per message in ``returns.recordings_dir``, named by the return call's attempt and a random part
(``<attempt>-<token>.wav``): the name is never guessable from the URL of another, and it is served only
behind the dashboard's login (``web/dashboard.py``). Messages older than ``returns.retention_days`` are
deleted by ``delete_expired``.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.return_calls import RETURN_CALL_KIND
from .models import Attempt

_NAME = re.compile(r"^[0-9]+-[A-Za-z0-9_-]{8,64}\.wav$")


def valid_name(name: str) -> bool:
    """A message file's name as we make them (nothing with a path in it)."""
    return bool(_NAME.match(name))


def write_message(directory: Path, attempt_id: int, data: bytes) -> str:
    """Store the bytes; the file's name. Written to a temporary name first, so a half file is never served."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{attempt_id}-{secrets.token_urlsafe(12)}.wav"
    tmp = directory / f".{name}.part"
    tmp.write_bytes(data)
    tmp.replace(directory / name)
    return name


def message_record(name: str, seconds: float, now: datetime, retention_days: float) -> dict[str, Any]:
    """What the attempt's evidence says of its message."""
    keep_until = now + timedelta(days=retention_days)
    return {"file": name, "seconds": round(seconds, 1), "keep_until": keep_until.isoformat()}


def message_path(directory: Path, name: str) -> Path | None:
    """The file of a message, if the name is one of ours and the file is there."""
    if not valid_name(name):
        return None
    path = directory / name
    return path if path.is_file() else None


async def delete_expired(session: AsyncSession, directory: Path, now: datetime) -> int:
    """Delete the messages kept past their retention; the attempt keeps a note that one was left."""
    deleted = 0
    rows = await session.scalars(
        select(Attempt).where(Attempt.kind == RETURN_CALL_KIND, Attempt.outcome == "message_left")
    )
    for attempt in rows:
        message = dict((attempt.evidence or {}).get("message") or {})
        if not message.get("file") or message.get("deleted"):
            continue
        if datetime.fromisoformat(str(message["keep_until"])) > now:
            continue
        path = message_path(directory, str(message["file"]))
        if path is not None:
            path.unlink(missing_ok=True)
        message["deleted"] = now.isoformat()
        attempt.evidence = {**(attempt.evidence or {}), "message": message}
        deleted += 1
    return deleted
