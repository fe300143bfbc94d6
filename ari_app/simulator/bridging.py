"""Native RTP bridging and where a callee's key presses go (recording 16).

A `mixing` bridge holding exactly two RTP legs (SIP channels, not Local) switches to `native_rtp` the moment
the second one joins, with no event: the media, key presses included, then flows between the two phones and
never through the application, so no ChannelDtmfReceived. A bridge created with `dtmf_events` (or
`proxy_media`) in its type never goes native and reports every key. In both cases the other party hears the
keys. The bridge JSON says `bridge_type: mixing` either way; only `technology` shows the switch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .errors import AriError
from .state import Bridge, Channel

if TYPE_CHECKING:
    from .engine import Pbx

NO_NATIVE_TYPES = frozenset({"dtmf_events", "proxy_media"})
DTMF_DURATION_MS = 120


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
    if ch.stasis_app:
        record.dtmf_to_app += digit
        pbx.emit_channel("ChannelDtmfReceived", ch, digit=digit, duration_ms=DTMF_DURATION_MS)
