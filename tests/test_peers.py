"""An instance knows whether others run beside it on the database: alone, it skips the work
that only keeps several apart (bot.peers); beside others, it waits until they have seen it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.peers import Peers
from storage.db import create_session_pool
from storage.models import Lease, utcnow
from tests.conftest import Database


async def test_alone_until_another_starts_and_again_once_it_stops_or_its_row_runs_out(
    database: Database,
):
    pool = create_session_pool(database.engine)
    if not database.url.startswith("postgresql"):
        sole = Peers(pool, "only", ttl=3, sole=True)
        assert await sole.beat() and sole.alone
        async with pool() as session:  # one process per SQLite file: nothing to announce
            assert await session.scalar(select(func.count()).select_from(Lease)) == 0
        return
    a = Peers(pool, "a", ttl=3, every=0.05)
    assert not a.alone  # until it has looked: the careful path
    assert await a.beat() and a.alone
    b = Peers(pool, "b", ttl=3, every=0.05)
    await b.join()  # it sees a, and waits until a has seen it
    assert not b.alone
    assert not await a.beat()
    await b.stop()  # a clean stop removes its row
    assert await a.beat()
    c = Peers(pool, "c", ttl=3, every=0.05)
    assert not await c.beat()  # a killed right after this: its row stays until it runs out
    assert not await a.beat()
    later = Peers(pool, "a", ttl=3, clock=lambda: utcnow() + timedelta(seconds=4))
    assert await later.beat()  # c's row has run out
