"""Runs attempts: one ``CallRunner`` per worker, one ``AttemptCall`` per attempt while it runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..ari.client import AriClient
from ..ari.dispatch import EventRouter
from ..ari.errors import AriError
from ..ari.events import Event
from ..clock import Clock
from ..domain.attempts import AttemptPlan, AttemptResult
from ..settings import Settings
from ..store.amd_clips import ClipStore
from ..store.leg_journal import Then
from .attempt import AttemptCall
from .media import MediaCatalog

log = logging.getLogger(__name__)

# Event types nothing in this application reads, asked of Asterisk not to be sent (its eventFilter). On a
# real Asterisk ChannelVarset alone is about a third of a call's events (../shared/ari-samples), and a
# multi-part whisper sends a PlaybackContinuing per part: each one costs the PBX a JSON write and us a
# read, a parse and a wake-up of the call that owns the channel, for nothing.
UNREAD_EVENTS = (
    "ChannelVarset",
    "ChannelDialplan",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "PlaybackContinuing",
)


class LegJournal(Protocol):
    """Where the orchestrator writes what it is about to do and what it learned, before acting on it."""

    async def leg_intent(
        self, attempt_id: int, role: str, try_no: int, channel_id: str, endpoint: str
    ) -> None: ...

    def stored_with_start(self, leg_id: int, row: dict[str, Any]) -> None:
        """A leg whose intent row the attempt's start committed: ``leg_intent`` for it stores nothing more."""

    async def leg_update(self, channel_id: str, **fields: Any) -> None:
        """Stored before this returns: what the call is about to act on."""

    def leg_note(self, channel_id: str, **fields: Any) -> None:
        """A change recovery does not need before the call goes on: stored soon, in order; not waited for."""

    def observed(self, channel_id: str, event: Event | None, fields: dict[str, Any]) -> None:
        """An event seen on a leg (None: not worth keeping) and what it changed; stored soon, in order."""

    async def stored(self) -> None:
        """Everything journalled so far is stored when this returns."""

    async def settle(self, channel_ids: Iterable[str], then: Then | None = None) -> bool:
        """Everything journalled so far is stored; these legs (ended) can be forgotten. ``then`` (the call's
        outcome) runs in the same transaction, after the facts, where it can: True when it ran and
        committed; False: the caller writes it on its own."""


class CallRunner:
    """Runs attempts. Each ``run`` owns its channels for its duration."""

    def __init__(
        self,
        *,
        installation: str,
        ari: AriClient,
        router: EventRouter,
        journal: LegJournal,
        clock: Clock,
        settings: Settings,
        media: MediaCatalog,
        app: str,
        clips: ClipStore | None = None,
    ) -> None:
        self.installation = installation
        self.ari = ari
        self.router = router
        self.journal = journal
        self.clock = clock
        self.settings = settings
        self.media = media
        self.app = app
        self.clips = clips  # AMD clips kept ([amd] record_clips); None: off
        self._live: dict[int, AttemptCall] = {}

    async def run(self, plan: AttemptPlan) -> AttemptResult:
        return (await self.run_recorded(plan, None))[0]

    async def run_recorded(
        self, plan: AttemptPlan, record: Callable[[AttemptResult], Then] | None
    ) -> tuple[AttemptResult, bool]:
        """Run the call; then store its last facts and, with them in one transaction, what ``record`` makes
        of its result (its outcome). True when that outcome was stored; False: the caller stores it."""
        call = AttemptCall(self, plan)
        self._live[plan.attempt_id] = call
        result: AttemptResult | None = None
        try:
            result = await call.run()
        finally:
            self._live.pop(plan.attempt_id, None)
            then = record(result) if record is not None and result is not None else None
            recorded = False
            try:
                # The call's facts are stored before its outcome is. (The admin's id too: its intent may have
                # come with the start, before its leg was added.)
                legs = [call.admin_id, *(call.legs.keys() - {call.admin_id})]
                recorded = await self.journal.settle(legs, then)
            except Exception as exc:  # already logged by the journal; the outcome must still be recorded
                log.warning("attempt %s: its last leg facts were not stored (%s)", plan.attempt_id, exc)
        return result, recorded

    def supersede(self, attempt_id: int) -> bool:
        """The lead of this live attempt is calling us: end it at its next look, unless it dialled the lead
        already. True when it will give way."""
        call = self._live.get(attempt_id)
        if call is None or call.lead_dialled:
            return False
        call.superseded = True
        if call.sub is not None:
            call.sub.interrupt()  # it looks now, not at the end of its current wait
        return True

    async def filter_events(self) -> None:
        """After every (re)connect: ask Asterisk to keep ``UNREAD_EVENTS`` to itself. An Asterisk that
        refuses (older than 13.26/16.3, or the socket dropped again) costs only the unread events."""
        try:
            await self.ari.filter_events(self.app, disallowed=UNREAD_EVENTS)
        except AriError as exc:
            log.warning("ARI event filter not set for %s (every event type will be sent): %s", self.app, exc)

    async def resync(self) -> None:
        """After a WebSocket reconnect: re-read every live channel, since events may have been missed."""
        for call in list(self._live.values()):
            await call.resync()

    @property
    def live_calls(self) -> int:
        return len(self._live)
