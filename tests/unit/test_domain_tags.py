"""The tag router: exactly one status tag while in the module, none after a cancel, other tags untouched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_app.domain.tags import StageNames, Status, TagChange, TagNames, route_status
from ari_app.settings import StageSettings, TagSettings

TAGS = TagNames()
STAGES = StageNames()
PENDING, INCOMPLETE, COMPLETE = TAGS.pending, TAGS.incomplete, TAGS.complete


def route(current: set[str], new: Status | None) -> TagChange:
    return route_status(current, new, tags=TAGS, stages=STAGES)


def test_a_new_request_gets_pending() -> None:
    change = route({"VIP"}, Status.PENDING)
    assert change == TagChange(
        add=frozenset({PENDING}), remove=frozenset(), stage="Callback requested", changed=True
    )
    assert change.apply({"VIP"}) == {"VIP", PENDING}


def test_a_miss_swaps_pending_for_incomplete() -> None:
    change = route({"VIP", PENDING}, Status.INCOMPLETE)
    assert change.add == {INCOMPLETE} and change.remove == {PENDING}
    assert change.stage == "Callback missed"


def test_completion_clears_every_other_status_tag_even_several() -> None:
    change = route({PENDING, INCOMPLETE, "newsletter"}, Status.COMPLETE)
    assert change.apply({PENDING, INCOMPLETE, "newsletter"}) == {COMPLETE, "newsletter"}
    assert change.stage == "Connected"


def test_cancel_removes_all_status_tags_and_sets_the_cancelled_stage() -> None:
    change = route({INCOMPLETE, "VIP"}, None)
    assert change.add == frozenset() and change.remove == {INCOMPLETE}
    assert change.stage == "Callback cancelled"
    assert change.apply({INCOMPLETE, "VIP"}) == {"VIP"}


def test_applying_the_same_status_again_changes_nothing() -> None:
    change = route({COMPLETE, "VIP"}, Status.COMPLETE)
    assert change == TagChange(add=frozenset(), remove=frozenset(), stage="Connected", changed=False)
    assert not route({"VIP"}, None).changed


def test_tag_names_compare_exactly() -> None:
    change = route({PENDING.lower()}, Status.COMPLETE)
    assert change.remove == frozenset()  # a look-alike free-form tag is not ours to remove


def test_names_come_from_settings() -> None:
    tags = TagNames.from_settings(TagSettings(pending="P", incomplete="I", complete="C"))
    stages = StageNames.from_settings(StageSettings(cancelled="Gone"))
    change = route_status({"P", PENDING}, Status.COMPLETE, tags=tags, stages=stages)
    assert change.add == {"C"} and change.remove == {"P"}  # the default-named tag is free-form here
    assert route_status({"C"}, None, tags=tags, stages=stages).stage == "Gone"
    assert tags.status_of({"C", "x"}) is Status.COMPLETE
    assert tags.status_of({"C", "P"}) is None


@pytest.mark.parametrize(("p", "i", "c"), [("A", "A", "B"), ("", "I", "C"), ("P", "I", "  ")])
def test_status_tag_names_must_be_distinct_and_non_empty(p: str, i: str, c: str) -> None:
    with pytest.raises(ValueError):
        TagNames(pending=p, incomplete=i, complete=c)


FREE_TAGS = st.sets(st.text(min_size=1, max_size=12), max_size=6)
STATUS_TAGS = st.sets(st.sampled_from([PENDING, INCOMPLETE, COMPLETE]))
NEW = st.one_of(st.none(), st.sampled_from(list(Status)))


@given(free=FREE_TAGS, status_tags=STATUS_TAGS, new=NEW)
def test_router_invariants(free: set[str], status_tags: set[str], new: Status | None) -> None:
    current = free | status_tags
    change = route(current, new)
    after = change.apply(current)

    present = after & TAGS.all
    if new is None:
        assert present == frozenset()
    else:
        assert present == {TAGS.for_status(new)}
    assert after - TAGS.all == current - TAGS.all  # free-form tags untouched
    assert change.add.isdisjoint(current) and change.remove <= current  # minimal
    assert change.add <= TAGS.all and change.remove <= TAGS.all
    assert change.changed == (after != frozenset(current))
    assert change.stage == STAGES.for_status(new)

    again = route(set(after), new)  # idempotent
    assert not again.changed and again.add == again.remove == frozenset()
    assert again.apply(after) == after


@given(free=FREE_TAGS, statuses=st.lists(NEW, min_size=1, max_size=6))
def test_any_sequence_of_transitions_leaves_at_most_one_status_tag(
    free: set[str], statuses: list[Status | None]
) -> None:
    tags: frozenset[str] = frozenset(free)
    for new in statuses:
        tags = route(set(tags), new).apply(tags)
        assert len(tags & TAGS.all) == (0 if new is None else 1)
    assert tags - TAGS.all == free


def test_a_request_the_lead_called_off_has_a_stage_of_its_own() -> None:
    change = route_status({PENDING, "VIP"}, None, tags=TAGS, stages=STAGES, by_lead=True)
    assert change.remove == {PENDING} and change.add == frozenset()
    assert change.stage == "Cancelled by lead"
    assert route({PENDING}, None).stage == "Callback cancelled"
    renamed = StageNames.from_settings(StageSettings(cancelled_by_lead="Lost: lead cancelled"))
    assert renamed.for_status(None, by_lead=True) == "Lost: lead cancelled"
