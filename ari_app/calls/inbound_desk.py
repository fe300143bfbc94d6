"""What a call to the business number needs from the store (implemented by ``scheduler/return_desk.py``)."""

from __future__ import annotations

from typing import Protocol

from ..domain.return_calls import (
    ReturnCallEnd,
    ReturnDecision,
)


class Recognised(Protocol):
    """Who is calling, as the store knows them, and what the call is."""

    @property
    def decision(self) -> ReturnDecision: ...

    @property
    def first_name(self) -> str: ...

    @property
    def last_name(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def last_admin(self) -> str | None: ...


class InboundDesk(Protocol):
    """What a call to the business needs from the store (``scheduler/return_desk.py``)."""

    async def recognise(self, phone: str | None) -> Recognised: ...

    async def begin(self, request_id: int, caller: str) -> int: ...

    async def take_admin(self, attempt_id: int, admin: str) -> bool: ...

    async def release_admin(self, attempt_id: int) -> None: ...

    async def outbound_running(self, request_id: int) -> list[int]: ...

    async def busy_admins(self) -> frozenset[str]: ...

    async def wait_finished(self, attempt_ids: list[int], within: float) -> None: ...

    async def keep_message(self, attempt_id: int, data: bytes, seconds: float) -> dict[str, object]: ...

    async def finish(self, attempt_id: int, end: ReturnCallEnd) -> None: ...
