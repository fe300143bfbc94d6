"""What the web layer and the workers are given, built once by the composition root (``app.Runtime``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .clock import Clock
from .lifecycle import Lifecycle
from .settings import Settings
from .sms.gateway import SmsGateway


def _nothing() -> None:
    return None


async def _ready() -> dict[str, bool]:
    return {}


@dataclass
class Services:
    settings: Settings
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    lifecycle: Lifecycle
    sms_gateway: SmsGateway | None = None
    # Wakes this process's worker. Commits through ``sessions`` already wake whatever they queued (and, on
    # PostgreSQL, every worker: ``store/queued.py``); this is for a caller that wants a claim round now.
    wake: Callable[[], None] = _nothing
    # Readiness of each dependency by name (database, ari, ...); /readyz answers 503 unless all are true.
    readiness: Callable[[], Awaitable[dict[str, bool]]] = _ready
    extra: dict[str, object] = field(default_factory=dict)
