"""This installation's id: generated once and kept, the configured one wins, two starts at once agree."""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.calls.ids import CallIds, new_installation_id, parse_leg_id, valid_installation
from ari_app.store.installation import installation_id


async def test_an_id_is_generated_once_and_kept(db_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    first = await installation_id(db_sessionmaker, generate=new_installation_id)
    again = await installation_id(db_sessionmaker, generate=lambda: "other")
    assert valid_installation(first)
    assert again == first


async def test_the_configured_id_wins_and_is_stored(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await installation_id(db_sessionmaker, generate=lambda: "generated")
    assert await installation_id(db_sessionmaker, configured="prod", generate=lambda: "x") == "prod"
    assert await installation_id(db_sessionmaker, generate=lambda: "x") == "prod"


async def test_workers_starting_together_share_one_id(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    names = itertools.count()
    got = await asyncio.gather(
        *(installation_id(db_sessionmaker, generate=lambda: f"w{next(names)}") for _ in range(4))
    )
    assert len(set(got)) == 1


def test_two_installations_never_share_a_channel_or_bridge_id() -> None:
    a, b = CallIds("a1b2c3", 3), CallIds("d4e5f6", 3)
    ours = {a.leg("admin"), a.leg("lead"), a.bridge}
    theirs = {b.leg("admin"), b.leg("lead"), b.bridge}
    assert not ours & theirs
    parsed = parse_leg_id(a.leg("lead", 2))
    assert parsed is not None and (parsed.installation, parsed.attempt_id, parsed.role, parsed.try_no) == (
        "a1b2c3",
        3,
        "lead",
        2,
    )
    assert parse_leg_id("PJSIP/admin-00000001") is None
