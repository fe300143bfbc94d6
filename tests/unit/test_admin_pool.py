"""Who is asked to take the next call: pure roster logic, no database (which has the last word)."""

from __future__ import annotations

from collections import Counter

import pytest

from ari_app.calls.admins import AdminPool
from ari_app.settings import AdminSettings

ROSTER = [AdminSettings(name=f"admin{i:02d}", endpoint=f"PJSIP/admin{i:02d}") for i in range(12)]


def test_round_robin_gives_every_admin_the_same_share() -> None:
    pool = AdminPool(ROSTER, "round_robin", worker="worker-a")

    firsts = Counter(pool.candidates()[0].name for _ in range(len(ROSTER) * 5))

    assert set(firsts) == {a.name for a in ROSTER}
    assert set(firsts.values()) == {5}


def test_busy_admins_are_never_candidates_and_the_one_to_avoid_comes_last() -> None:
    pool = AdminPool(ROSTER, "round_robin", worker="worker-a")
    busy = {"admin03", "admin07"}

    for _ in range(len(ROSTER)):
        names = [a.name for a in pool.candidates(avoid="admin01", busy=busy)]
        assert not busy & set(names)
        assert len(names) == len(ROSTER) - 2
        assert names[-1] == "admin01"


def test_no_candidates_when_everyone_is_busy() -> None:
    pool = AdminPool(ROSTER, "round_robin", worker="worker-a")

    assert pool.candidates(busy={a.name for a in ROSTER}) == []
    assert pool.free({a.name for a in ROSTER}) == 0


def test_a_worker_keeps_its_order_across_restarts() -> None:
    def order() -> list[str]:
        pool = AdminPool(ROSTER, worker="worker-a")
        return [pool.candidates()[0].name for _ in range(len(ROSTER))]

    assert order() == order()


def test_each_worker_goes_round_the_roster_in_an_order_of_its_own() -> None:
    # Workers going round one shared order, even from different places, catch up with each other's latest
    # picks and then ask for one just-taken admin after another; orders of their own don't line up.
    def order(worker: str) -> list[str]:
        pool = AdminPool(ROSTER, worker=worker)
        return [pool.candidates()[0].name for _ in range(len(ROSTER))]

    a, b = order("worker-a"), order("worker-b")
    assert sorted(a) == sorted(b) == [x.name for x in ROSTER]
    rotations_of_a = [a[i:] + a[:i] for i in range(len(a))]
    assert b not in rotations_of_a


@pytest.mark.parametrize("worker", ["", "worker-a"])
def test_priority_asks_the_highest_priority_first_whatever_the_worker(worker: str) -> None:
    roster = [
        AdminSettings(name="low", endpoint="PJSIP/low", priority=1),
        AdminSettings(name="high", endpoint="PJSIP/high", priority=9),
        AdminSettings(name="mid", endpoint="PJSIP/mid", priority=5),
    ]
    pool = AdminPool(roster, "priority", worker=worker)

    assert [a.name for a in pool.candidates()] == ["high", "mid", "low"]
    assert [a.name for a in pool.candidates(busy={"high"})] == ["mid", "low"]


def test_an_empty_roster_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        AdminPool([])


def test_starts_of_one_worker_in_flight_together_are_never_offered_the_same_admin() -> None:
    pool = AdminPool(ROSTER[:3], worker="worker-a")
    starts = [pool.picking() for _ in range(4)]

    offered = [s.next() for s in starts]

    names = [a.name for a in offered if a is not None]
    assert sorted(names) == sorted(a.name for a in ROSTER[:3])
    assert offered[3] is None  # all three are held
    assert pool.free() == 0


def test_a_start_is_not_offered_again_an_admin_the_database_refused_but_later_starts_are() -> None:
    pool = AdminPool(ROSTER[:2], worker="worker-a")
    start = pool.picking()
    refused = start.next()
    assert refused is not None

    start.refused()
    other = start.next()

    assert other is not None and other.name != refused.name
    start.refused()
    assert start.next() is None
    later = pool.picking().next()  # refusals were this start's; the pool holds neither admin
    assert later is not None and later.name in {a.name for a in ROSTER[:2]}


def test_an_admin_is_held_until_released() -> None:
    pool = AdminPool(ROSTER[:1], worker="worker-a")
    taken = pool.picking().next()
    assert taken is not None

    assert pool.picking().next() is None
    pool.release(taken.name)
    assert pool.picking().next() == taken
