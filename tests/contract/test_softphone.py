"""The real peer's softphone (tests/asterisk_peer/softphone.py): a registered baresip answers like a person's
phone and its key press reaches the application. Real Asterisk only, and baresip installed."""

from __future__ import annotations

import sys
from pathlib import Path

from ari_app.ari import AriClient
from ari_app.ari.events import ChannelDtmfReceived, Event, StasisStart

from .conftest import Events, real_asterisk_only
from .helpers import wait_for_event

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "asterisk_peer"))
from softphone import Softphone, baresip_or_skip  # noqa: E402


@real_asterisk_only
async def test_a_registered_softphone_answers_and_its_key_press_reaches_the_app(
    ari: AriClient, events: Events, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    async with Softphone("phone1", binary=baresip_or_skip()) as phone:
        sub = events.router.subscription()
        sub.add_channel(channel_id)
        hangup_later.append(channel_id)
        await ari.originate("PJSIP/phone1", channel_id=channel_id, app=app_name, timeout=10)
        seen: list[Event] = []
        await wait_for_event(sub, StasisStart, seen=seen)  # baresip answered on its own
        await phone.wait_for("CALL_ESTABLISHED")
        await phone.press("1")
        key = await wait_for_event(sub, ChannelDtmfReceived, seen=seen, within=5)
        assert key.digit == "1"
        assert key.duration_ms >= 100  # a whole key press, not a begin Asterisk had to end itself
