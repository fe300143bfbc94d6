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
    # Called after something was queued that a worker or sender should see soon (polling is the guarantee).
    wake: Callable[[], None] = _nothing
    # Readiness of each dependency by name (database, ari, ...); /readyz answers 503 unless all are true.
    readiness: Callable[[], Awaitable[dict[str, bool]]] = _ready
    extra: dict[str, object] = field(default_factory=dict)
