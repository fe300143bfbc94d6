"""What one event does to a leg, and how talk time and "played whole" are judged: the orchestrator's
bookkeeping, without a network (event shapes as a real Asterisk 22 sends them, tests/recordings)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from ari_app.ari import parse_event
from ari_app.calls.legs import (
    LegState,
    PlaybackState,
    drop_played,
    greeting_end_seconds,
    observe_leg,
    pbx_time,
    talk_seconds,
)

T0 = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)


def _event(kind: str, channel_id: str = "cb-a1-1-lead-1", state: str = "Up", **fields: Any) -> Any:
    channel = {
        "id": channel_id,
        "name": "PJSIP/trunk-1",
        "state": state,
        "caller": {"name": "", "number": ""},
    }
    return parse_event(
        {
            "type": kind,
            "application": "app",
            "timestamp": "2026-03-03T17:00:05.000+0000",
            "channel": channel,
            **fields,
        }
    )


def _legs() -> dict[str, LegState]:
    return {"cb-a1-1-lead-1": LegState("cb-a1-1-lead-1", "lead", created=True)}


def test_up_means_answered_once_and_is_journalled() -> None:
    legs = _legs()
    seen = observe_leg(legs, _event("ChannelStateChange"), T0)
    assert seen is not None and seen[2] == {"state": "up", "answered_at": T0}
    assert observe_leg(legs, _event("ChannelStateChange"), T0 + timedelta(seconds=1))[2] == {}  # type: ignore[index]
    assert legs["cb-a1-1-lead-1"].up_at == T0


def test_a_soft_hangup_request_is_not_the_end_of_the_leg() -> None:
    legs = _legs()
    observe_leg(legs, _event("ChannelHangupRequest", soft=True, cause=32), T0)
    assert not legs["cb-a1-1-lead-1"].ended
    observe_leg(legs, _event("ChannelHangupRequest", cause=16), T0)
    assert legs["cb-a1-1-lead-1"].ended and not legs["cb-a1-1-lead-1"].destroyed


def test_the_cause_comes_from_channel_destroyed_and_the_event_is_kept() -> None:
    legs = _legs()
    seen = observe_leg(legs, _event("ChannelDestroyed", state="Down", cause=17, cause_txt="User busy"), T0)
    assert seen is not None
    leg, kept, fields = seen
    assert (leg.cause, leg.cause_txt, leg.destroyed) == (17, "User busy", True)
    assert kept is not None and fields["state"] == "ended"


def test_events_of_other_channels_change_nothing() -> None:
    legs = _legs()
    assert observe_leg(legs, _event("ChannelDestroyed", channel_id="someone-else", cause=16), T0) is None
    assert not legs["cb-a1-1-lead-1"].destroyed


def test_talk_time_is_measured_on_the_pbx_clock() -> None:
    lead, admin = LegState("l", "lead"), LegState("a", "admin")
    lead.pbx_bridged = T0
    admin.pbx_left = T0 + timedelta(seconds=42)
    # Our own clock read the events late (a busy worker): the PBX's timestamps still say 42 s.
    assert (
        talk_seconds(lead, admin, bridged_at=T0 + timedelta(seconds=3), now=T0 + timedelta(seconds=60))
        == 42.0
    )


def _drop(seconds: float, state: str = "done") -> PlaybackState:
    pb = PlaybackState("d", "l", 12.0, started_at=T0, finished_at=T0 + timedelta(seconds=seconds))
    pb.pbx_started, pb.pbx_finished, pb.state = T0, T0 + timedelta(seconds=seconds), state
    return pb


def test_a_drop_is_whole_only_when_played_to_its_length_before_any_hang_up() -> None:
    lead = LegState("l", "lead")
    assert drop_played(_drop(12.0), lead, 12.0) == (12.0, True)
    # Stopped: Asterisk still says "done" (recording 15), but it played 4 s of 12.
    assert drop_played(_drop(4.0), lead, 12.0) == (4.0, False)
    lead.pbx_hung_up = T0 + timedelta(seconds=11)
    assert drop_played(_drop(12.0), lead, 12.0)[1] is False


def test_leaving_the_bridge_before_the_drop_is_not_hanging_up() -> None:
    """After a press of 9 the lead leaves the bridge, then the drop plays (found on a real Asterisk)."""
    lead = LegState("l", "lead")
    lead.pbx_left = T0 - timedelta(seconds=3)
    assert drop_played(_drop(12.0), lead, 12.0) == (12.0, True)


def _at(kind: str, stamp: str, **fields: Any) -> Any:
    return dataclasses.replace(_event(kind, **fields), timestamp=stamp)


def test_amds_time_to_decide_is_on_the_pbxs_clock_from_leaving_for_the_context_to_the_verdict() -> None:
    legs = _legs()
    observe_leg(legs, _at("StasisStart", "2026-03-03T17:00:01.000+0000", args=["lead", "1"]), T0)
    observe_leg(legs, _at("StasisEnd", "2026-03-03T17:00:02.250+0000"), T0)
    # Read late by a busy worker: our clock says 9 s, the PBX's 3.2 s.
    seen = observe_leg(
        legs,
        _at("StasisStart", "2026-03-03T17:00:05.450+0000", args=["amd", "MACHINE", "LONGGREETING-1500-1500"]),
        T0 + timedelta(seconds=9),
    )
    assert seen is not None
    assert seen[2]["amd_seconds"] == 3.2
    assert (seen[2]["amd_status"], seen[2]["amd_cause"]) == ("MACHINE", "LONGGREETING-1500-1500")


def test_the_greetings_end_is_the_last_talk_end_after_the_answer_on_the_pbxs_clock() -> None:
    legs = _legs()
    observe_leg(legs, _at("ChannelStateChange", "2026-03-03T17:00:01.000+0000"), T0)
    lead = legs["cb-a1-1-lead-1"]
    assert greeting_end_seconds(lead) is None  # nothing heard yet
    observe_leg(legs, _at("ChannelTalkingStarted", "2026-03-03T17:00:01.200+0000"), T0)
    observe_leg(legs, _at("ChannelTalkingFinished", "2026-03-03T17:00:09.500+0000", duration=8300), T0)
    assert greeting_end_seconds(lead) == 8.5


def test_pbx_time_reads_asterisks_stamps_and_refuses_what_has_no_offset() -> None:
    assert pbx_time("2026-11-26T06:59:04.681+0000") == datetime(2026, 11, 26, 6, 59, 4, 681000, tzinfo=UTC)
    assert pbx_time("2026-11-26T08:59:04.681+0200") == datetime(2026, 11, 26, 6, 59, 4, 681000, tzinfo=UTC)
    # Without an offset the stamp can't be put on the PBX's clock beside the others: unreadable, not naive.
    assert pbx_time("2026-11-26T06:59:04.681") is None
    assert pbx_time("") is None
    assert pbx_time("yesterday") is None
    assert pbx_time(None) is None  # type: ignore[arg-type]  # an event without a timestamp
