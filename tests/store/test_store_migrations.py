from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from ari_app.store import Base, current_revision, head_revision, make_engine, upgrade


async def schema_diffs(url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_migrations_build_exactly_the_schema_the_models_describe(db_url: str) -> None:
    await upgrade(db_url)

    assert await schema_diffs(db_url) == []


async def test_a_new_database_has_no_revision_until_upgraded(db_url: str) -> None:
    assert await current_revision(db_url) is None

    await upgrade(db_url)

    assert await current_revision(db_url) == head_revision()


async def test_upgrading_an_up_to_date_database_changes_nothing(db_url: str) -> None:
    await upgrade(db_url)
    await upgrade(db_url)

    assert await current_revision(db_url) == head_revision()
    assert await schema_diffs(db_url) == []
