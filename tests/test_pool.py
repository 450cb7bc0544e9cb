"""The connection pool's savings keep their guarantees: a SQLite connection returned inside a
transaction is still rolled back, an idle PostgreSQL connection that died is replaced before
anyone uses it, and a lone statement run without BEGIN/COMMIT is still committed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage import db
from storage.db import create_engine, create_session_pool, one_statement
from storage.repositories.events import InboundEventRepository
from tests.conftest import PG_URL, Database
from tests.tcp_proxy import TcpProxy


async def test_sqlite_connection_returned_mid_transaction_is_rolled_back(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/pool.db")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        async with engine.connect() as conn:
            # Behind SQLAlchemy's back, so only the pool's reset can end it.
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.execute("BEGIN IMMEDIATE")
            await raw.execute("INSERT INTO t (id) VALUES (1)")
            assert raw.in_transaction
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None and not raw.in_transaction
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        async with engine.begin() as conn:  # the write lock was released
            await conn.execute(text("INSERT INTO t (id) VALUES (2)"))
    finally:
        await engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (OTKLIK_TEST_DATABASE_URL)")
@pytest.mark.parametrize("idle_limit", [0.0, 3600.0])
async def test_postgresql_idle_connection_is_pinged_and_replaced(
    idle_limit: float, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", idle_limit)
    target = make_url(PG_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(host="127.0.0.1", port=proxy.port)
    engine = create_engine(proxied.render_as_string(hide_password=False))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await proxy.cut()  # the pooled connection dies while idle...
        await proxy.restore()  # ...and the database is back
        async with engine.connect() as conn:
            if idle_limit == 0.0:  # idle long enough: pinged, found dead, replaced
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
            else:  # used again at once: not pinged, so one statement fails
                with pytest.raises(DBAPIError) as failure:
                    await conn.execute(text("SELECT 1"))
                assert failure.value.connection_invalidated
        async with engine.connect() as conn:  # either way the next one works
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await proxy.cut()
        await engine.dispose()


async def test_a_lone_statement_needs_no_transaction_on_postgresql(database: Database):
    pool = create_session_pool(database.engine)
    async with one_statement(pool) as session:
        (event_id,) = await InboundEventRepository(session).store_many("t", [("1", "{}")])
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        assert raw is not None
        if database.url.startswith("sqlite"):
            assert raw.in_transaction  # SQLite keeps BEGIN IMMEDIATE: it queues the writers
        else:
            assert not raw.is_in_transaction()  # no BEGIN was sent: the INSERT committed itself
    async with pool() as session:
        assert await InboundEventRepository(session).get(event_id) is not None
