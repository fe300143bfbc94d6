"""Calls a stopped worker left on the PBX, as seen from the worker that reconciles them (ARI stays in the
call package; ``scheduler.recovery`` decides from the journal what to do, this module does it).

Verified on Asterisk 22 (FIELD-NOTES): when an application's WebSocket drops its channels stay up in Stasis,
and a worker reconnecting under the same name controls them again; a worker under another name takes them
over with ``POST /channels/{id}/move``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from ..ari.client import AriClient
from ..ari.errors import AriError, AriNotFound
from ..clock import Clock
from .ids import CallIds

log = logging.getLogger(__name__)

# Wall seconds between two looks at a re-adopted call's channels.
WATCH_EVERY = 0.5
_MAX_WATCH_SECONDS = 4 * 3600.0


class CallAdoption:
    def __init__(self, *, installation: str, ari: AriClient, clock: Clock, app: str) -> None:
        self.installation = installation
        self.ari = ari
        self.clock = clock
        self.app = app  # our Stasis application: where re-adopted channels are moved

    async def end_live(self, attempt_id: int, channel_ids: Sequence[str]) -> None:
        """Hang up whichever of these channels (ours by id) Asterisk still has."""
        for channel_id in channel_ids:
            try:
                await self.ari.get_channel(channel_id)
            except AriNotFound:
                continue
            except AriError as exc:
                log.warning("reconcile %s: cannot read %s: %s", attempt_id, channel_id, exc)
                continue
            try:
                await self.ari.hangup(channel_id)
            except AriError as exc:
                log.warning("reconcile %s: cannot hang up %s: %s", attempt_id, channel_id, exc)

    async def take_over(self, attempt_id: int, channel_ids: Sequence[str], from_app: str | None) -> bool:
        """Both channels still talking in the attempt's bridge: make them ours. False: nothing to adopt."""
        if not self.app:
            return False
        try:
            # The bridge itself is the truth: the worker may have died before it recorded the bridging.
            bridge = await self.ari.get_bridge(CallIds(self.installation, attempt_id).bridge)
            if not set(channel_ids) <= set(bridge.channels):
                return False
            if from_app and from_app != self.app:
                for channel_id in channel_ids:
                    await self.ari.move(channel_id, self.app, f"adopted,{attempt_id}")
                # Not measured on Asterisk: if leaving the old application took them out of the bridge,
                # put them back (a short gap in the audio beats a cut call).
                missing = set(channel_ids) - set((await self.ari.get_bridge(bridge.id)).channels)
                if missing:
                    await self.ari.add_channel(bridge.id, sorted(missing))
        except AriError as exc:
            log.info("attempt %s: not re-adopted (%s); ending it", attempt_id, exc)
            return False
        log.info("attempt %s: re-adopted the bridged call into %s", attempt_id, self.app)
        return True

    async def follow(self, attempt_id: int, channel_ids: Sequence[str]) -> datetime | None:
        """Follow an adopted call (GET, no events needed) until either side hangs up; then end the other side
        and the bridge. Returns when it ended (None: still going at the watch limit)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _MAX_WATCH_SECONDS / self.clock.speed
        gone_at = None
        while gone_at is None and loop.time() < deadline:
            await asyncio.sleep(WATCH_EVERY)
            for channel_id in channel_ids:
                try:
                    await self.ari.get_channel(channel_id)
                except AriNotFound:
                    gone_at = self.clock.now()
                except AriError as exc:
                    log.warning("attempt %s: cannot read %s: %s", attempt_id, channel_id, exc)
        for channel_id in channel_ids:
            try:
                await self.ari.hangup(channel_id)
            except AriError:
                pass  # already gone: that is how the call ended
        try:
            await self.ari.destroy_bridge(CallIds(self.installation, attempt_id).bridge)
        except AriError:
            pass
        return gone_at
