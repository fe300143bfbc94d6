"""Native RTP bridging and where a callee's key presses go (recording 16).

A `mixing` bridge holding exactly two RTP legs (SIP channels, not Local) switches to `native_rtp` the moment
the second one joins, with no event: the media, key presses included, then flows between the two phones and
never through the application, so no ChannelDtmfReceived. A bridge created with `dtmf_events` (or
`proxy_media`) in its type never goes native and reports every key. In both cases the other party hears the
keys. The bridge JSON says `bridge_type: mixing` either way; only `technology` shows the switch.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from . import callee as callee_script
from .errors import AriError
from .state import Bridge, Channel

if TYPE_CHECKING:
    from .engine import Pbx

BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
NO_NATIVE_TYPES = frozenset({"dtmf_events", "proxy_media"})
DTMF_DURATION_MS = 120


class BridgeRegistry:
    """Owns the bridges; a channel joins and leaves them here."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.bridges: dict[str, Bridge] = {}

    def bridge(self, bridge_id: str) -> Bridge:
        br = self.bridges.get(bridge_id)
        if br is None:
            raise AriError.message(404, "Bridge not found")
        return br

    def create(self, bridge_id: str | None, bridge_type: str | None, name: str | None) -> dict[str, Any]:
        types = [t.strip() for t in (bridge_type or "mixing").split(",") if t.strip()]
        if not types or any(t not in BRIDGE_TYPES for t in types):
            raise AriError.message(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
        bid = bridge_id or str(uuid.uuid4())
        if bid in self.bridges:
            raise AriError.message(409, "Bridge with the same bridgeId already exists")
        kind = "holding" if "holding" in types else "mixing"
        br = Bridge(
            id=bid,
            name=name or "",
            bridge_type=kind,
            created=self.pbx.now(),
            dtmf_events=bool(NO_NATIVE_TYPES & set(types)),
        )
        self.bridges[bid] = br
        self.pbx.emit("BridgeCreated", set(), bridge=br.to_json())
        return br.to_json()

    def check_addable(self, bridge_id: str, channel_ids: list[str]) -> tuple[Bridge, list[Channel]]:
        br = self.bridge(bridge_id)
        if not channel_ids:
            raise AriError.message(400, "Missing parameter channel")
        chans = []
        for cid in channel_ids:
            ch = self.pbx.channels.get(cid)
            if ch is None:
                raise AriError.message(400, "Channel not found")
            if ch.stasis_app is None:
                raise AriError.message(422, "Channel not in Stasis application")
            chans.append(ch)
        return br, chans

    def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        pbx = self.pbx
        br, chans = self.check_addable(bridge_id, channel_ids)
        for ch in chans:
            if ch.bridge_id == br.id:
                continue
            if ch.bridge_id and ch.bridge_id in self.bridges:
                self.remove(ch, self.bridges[ch.bridge_id])
            br.channels.append(ch.id)
            br.subscribers.add(ch.stasis_app or "")
            ch.bridge_id = br.id
            record = pbx.calls[ch.id]
            if record.bridged is None:
                record.bridged = pbx.now()
            pbx.emit_channel("ChannelEnteredBridge", ch, bridge=br.to_json())
            settle(pbx, br)
            if not ch.ever_bridged:
                ch.ever_bridged = True
                callee_script.on_bridged(pbx, ch)

    def remove_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        br = self.bridge(bridge_id)
        chans = []
        for cid in channel_ids:
            ch = self.pbx.channels.get(cid)
            if ch is None:
                raise AriError.message(400, "Channel not found")
            if ch.stasis_app is None:
                raise AriError.message(422, "Channel not in Stasis application")
            if ch.bridge_id != br.id:
                raise AriError.message(422, "Channel not in this bridge")
            chans.append(ch)
        for ch in chans:
            self.remove(ch, br)

    def remove(self, ch: Channel, br: Bridge) -> None:
        if ch.id in br.channels:
            br.channels.remove(ch.id)
        ch.bridge_id = None
        apps = self.pbx.recipients(ch) | br.subscribers
        self.pbx.emit_channel("ChannelLeftBridge", ch, apps=apps, bridge=br.to_json())
        settle(self.pbx, br)

    def destroy(self, bridge_id: str) -> None:
        pbx = self.pbx
        br = self.bridge(bridge_id)
        for cid in list(br.channels):
            if cid in pbx.channels:
                self.remove(pbx.channels[cid], br)
        pbx.playback_registry.bridge_gone(br)
        pbx.emit("BridgeDestroyed", br.subscribers, bridge=br.to_json())
        del self.bridges[bridge_id]


async def add_when_free(pbx: Pbx, bridge_id: str, channel_ids: list[str]) -> None:
    """POST /bridges/{id}/addChannel: Asterisk runs the join on each channel's control thread, which is
    busy while a playback plays on that channel, so the answer waits for the channel's playbacks to end
    (issue 15: a whisper that was not really stopped held addChannel past a 10 s client timeout)."""
    pbx.check_addable(bridge_id, channel_ids)
    tails = [ch.playback_tail for cid in channel_ids if (ch := pbx.channels.get(cid)) is not None]
    busy = [tail.wait() for tail in tails if tail is not None and not tail.is_set()]
    if busy:
        await asyncio.gather(*busy)
    still_here = [cid for cid in channel_ids if cid in pbx.channels]
    if not still_here:
        raise AriError.message(400, "Channel not found")  # hung up while waiting
    pbx.add_channels(bridge_id, still_here)


def settle(pbx: Pbx, br: Bridge) -> None:
    """Recompute the bridge's technology after a channel joined or left (after that event was sent:
    ChannelEnteredBridge still says simple_bridge, the next ChannelLeftBridge says native_rtp)."""
    legs = [pbx.channels[c] for c in br.channels if c in pbx.channels]
    br.native = (
        br.bridge_type == "mixing" and not br.dtmf_events and len(legs) == 2 and all(ch.rtp for ch in legs)
    )


def key_pressed(pbx: Pbx, ch: Channel, digit: str) -> None:
    """The far end of ``ch`` pressed ``digit``: the bridge's other parties hear it; the application gets
    ChannelDtmfReceived unless the bridge is native."""
    record = pbx.calls[ch.id]
    record.dtmf_sent += digit
    br = pbx.bridges.get(ch.bridge_id) if ch.bridge_id else None
    if br is not None:
        for other in br.channels:
            if other != ch.id and other in pbx.calls:
                pbx.calls[other].dtmf_heard += digit
        if br.native:
            return
    pbx.recording_registry.key_pressed(ch, digit)
    if ch.stasis_app:
        record.dtmf_to_app += digit
        pbx.emit_channel("ChannelDtmfReceived", ch, digit=digit, duration_ms=DTMF_DURATION_MS)
