"""Migration stairway: upgrade, downgrade to nothing, upgrade again; schema matches models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.models import Base
from tests.conftest import Database


async def test_stairway(database: Database):
    engine = database.engine
    assert await migrate.current_revision(engine) == migrate.head_revision() >= "0041"
    await migrate.downgrade(engine, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision() >= "0041"


async def test_every_migration_statement_can_be_replayed_as_one_script(database: Database):
    """The PostgreSQL tests give each test a schema at head by replaying the statements one
    real migration ran (tests/conftest.py, _pg_at_head). A statement with parameters cannot be
    replayed, and then every test runs the migrations: 0.25 s more each, two minutes of CI."""
    if not database.url.startswith("postgresql"):
        pytest.skip("the replay is PostgreSQL's (SQLite copies a file at head)")
    from tests.conftest import _PG_SCRIPT

    assert _PG_SCRIPT and _PG_SCRIPT[0], "a migration statement carries parameters"


async def test_models_and_migrations_agree(database: Database):
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []
