"""``AttemptCall`` on its own: the orchestrator against the ARI simulator (a network peer that follows a real
Asterisk's recordings), with its leg journal in memory: no database, no web, no worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from ari_app.ari.client import AriClient
from ari_app.ari.connection import EventConnection
from ari_app.ari.dispatch import EventRouter
from ari_app.ari.errors import AriNotFound
from ari_app.ari.events import Event
from ari_app.audio.manifest import SHIPPED_SOUNDS, load_manifest, sound_durations
from ari_app.calls.ids import CallIds
from ari_app.calls.media import MediaCatalog
from ari_app.calls.runner import CallRunner
from ari_app.clock import VirtualClock
from ari_app.domain.attempts import AttemptStart
from ari_app.domain.outcomes import Outcome
from ari_app.settings import AdminSettings, load_settings
from ari_app.simulator import Scenario
from ari_app.simulator.server import SimulatorServer
from ari_app.store.leg_journal import Then

SPEED = 50.0
LEAD = "+12025550190"
ADMIN = AdminSettings(name="Front desk", endpoint="PJSIP/admin")


class MemoryJournal:
    """The leg journal's contract, kept in order in memory: what was written before which request."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    async def leg_intent(
        self, attempt_id: int, role: str, try_no: int, channel_id: str, endpoint: str
    ) -> None:
        self.lines.append(("intent", channel_id, {"role": role, "endpoint": endpoint}))

    async def leg_update(self, channel_id: str, **fields: Any) -> None:
        self.lines.append(("update", channel_id, fields))

    def leg_note(self, channel_id: str, **fields: Any) -> None:
        self.lines.append(("note", channel_id, fields))

    def observed(self, channel_id: str, event: Event | None, fields: dict[str, Any]) -> None:
        if fields:
            self.lines.append(("observed", channel_id, fields))

    async def stored(self) -> None:
        self.lines.append(("stored", "", {}))

    def stored_with_start(self, leg_id: int, row: dict[str, Any]) -> None:
        return None

    async def settle(self, channel_ids: Iterable[str], then: Then | None = None) -> bool:
        return False  # no database: the caller writes the outcome on its own


@pytest.fixture
async def runner() -> AsyncIterator[tuple[CallRunner, SimulatorServer, MemoryJournal]]:
    async with SimulatorServer(
        port=0, speed=SPEED, scenario=Scenario.default(), sounds_durations=sound_durations(SHIPPED_SOUNDS)
    ) as sim:
        settings = load_settings(None, environ={}, overrides={"ari": {"url": sim.base_url}})
        clock = VirtualClock(start=datetime(2026, 3, 3, 17, tzinfo=UTC), speed=SPEED)
        lengths = {name: entry.duration for name, entry in load_manifest(SHIPPED_SOUNDS).items()}
        media = MediaCatalog(lengths, lambda name: f"sound:callback/{name}")
        router, journal = EventRouter(), MemoryJournal()
        async with AriClient(sim.base_url, "callback", "callback") as ari:
            calls = CallRunner(
                installation="t1",
                ari=ari,
                router=router,
                journal=journal,
                clock=clock,
                settings=settings,
                media=media,
                app=settings.ari.app,
            )
            async with EventConnection(
                sim.base_url, "callback", "callback", settings.ari.app, on_event=router.dispatch
            ) as events:
                await events.wait_connected(10.0)
                yield calls, sim, journal


def _plan(attempt_id: int, *, final: bool = False) -> Any:
    return AttemptStart(attempt_id, LEAD, final=final, amd=False).with_admin(ADMIN)


async def _lead_talks_then_hangs_up(calls: CallRunner, sim: SimulatorServer, attempt_id: int) -> Any:
    """The lead answers after 1 s, talks 20 s and hangs up; the attempt's result."""
    sim.pbx.replace_scenario(
        Scenario.from_dict(
            {"callee": [{"match": LEAD, "behaviour": "answer", "answer_after": 1.0, "talk": 20}]}
        )
    )
    return await calls.run(_plan(attempt_id))


async def test_admin_first_then_the_lead_once_each_written_before_it_is_requested(
    runner: tuple[CallRunner, SimulatorServer, MemoryJournal],
) -> None:
    calls, sim, journal = runner
    result = await _lead_talks_then_hangs_up(calls, sim, 1)

    assert result.outcome == Outcome.COMPLETED, result.detail
    assert result.lead_dialled and 18.0 <= (result.talk_seconds or 0) <= 22.0
    ids = CallIds("t1", 1)
    intents = [line[1] for line in journal.lines if line[0] == "intent"]
    assert intents == [ids.leg("admin"), ids.leg("lead")]
    first_update = next(i for i, line in enumerate(journal.lines) if line[1] == ids.leg("lead"))
    assert journal.lines[first_update][0] == "intent"  # the intent is written before anything else of the leg
    lead = [(i, fields) for i, (_kind, leg, fields) in enumerate(journal.lines) if leg == ids.leg("lead")]
    answered = next(i for i, fields in lead if fields.get("answered_at"))
    bridged = next(i for i, fields in lead if fields.get("bridged_at"))
    # The answer is stored before the lead is connected: recovery re-adopts a bridged call only from it.
    assert any(kind == "stored" for kind, _leg, _f in journal.lines[answered:bridged])


async def test_a_lead_who_hung_up_is_not_hung_up_again_and_the_admin_is_hung_up_once(
    runner: tuple[CallRunner, SimulatorServer, MemoryJournal],
) -> None:
    calls, sim, _journal = runner
    result = await _lead_talks_then_hangs_up(calls, sim, 5)

    assert result.outcome == Outcome.COMPLETED, result.detail
    ids = CallIds("t1", 5)
    lead, admin = sim.pbx.calls[ids.leg("lead")], sim.pbx.calls[ids.leg("admin")]
    assert lead.hangup_by == "callee" and lead.destroyed is not None
    # The lead's own hang-up was reported: a DELETE of ours would only have raced its end (answered 404).
    assert lead.hangups_asked == 0
    assert (admin.hangups_asked, admin.hangup_by) == (1, "app")
    assert not sim.pbx.channels  # nothing of ours is left on the PBX


async def test_a_channel_id_already_taken_is_refused_and_the_owner_s_call_is_left_alone(
    runner: tuple[CallRunner, SimulatorServer, MemoryJournal],
) -> None:
    calls, _sim, _journal = runner
    taken = CallIds("t1", 2).leg("admin")
    # Another installation (same id: a copied database) has a live call by that id.
    await calls.ari.originate("PJSIP/admin", channel_id=taken, app="someone-else", timeout=30)

    result = await calls.run(_plan(2))

    assert result.outcome == Outcome.SYSTEM_ERROR and "409" in result.detail, result.detail
    assert not result.lead_dialled
    assert (await calls.ari.get_channel(taken)).id == taken  # never hung up by us
    with pytest.raises(AriNotFound):
        await calls.ari.get_channel(CallIds("t1", 2).leg("lead"))  # nothing of ours was left behind


async def test_an_admin_endpoint_that_does_not_exist_is_a_configuration_error(
    runner: tuple[CallRunner, SimulatorServer, MemoryJournal],
) -> None:
    """Cause 1 on the admin's leg says our configuration is wrong, not that the admin is away
    (``domain.outcomes.classify_admin``): retrying "another admin soon" would hide it."""
    calls, sim, _journal = runner
    sim.pbx.replace_scenario(
        Scenario.from_dict({"callee": [{"match": "PJSIP/admin", "behaviour": "unallocated"}]})
    )
    result = await calls.run(_plan(3))
    assert result.outcome == Outcome.SYSTEM_ERROR, result.detail
    assert "cause 1" in result.detail
