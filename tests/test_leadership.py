"""One leader among instances: the lease is taken by one of several asking at once, renewed by
its holder, taken over once it expires, given up on a clean stop; and with real processes on
PostgreSQL, two `otklik run` agree on one leader, and when it is SIGKILLed the other leads
within the lease's time."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.campaigns import service
from bot.core.delivery.shared_rate import bucket_key
from bot.leadership import LEASE, Leadership
from storage.db import create_session_pool
from storage.models import ChannelIdentity, Customer, utcnow
from storage.repositories import leases
from tests.conftest import Database, free_port, spawn_bot
from tests.fake_telegram import FakeTelegram
from tests.grant_log import REDIS_URL, WINDOW, GrantLog, sliding_max


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _instance(database: Database, name: str, clock: Clock, log: list[str]) -> Leadership:
    async def gain() -> None:
        log.append(f"{name} leads")

    async def loss() -> None:
        log.append(f"{name} steps down")

    pool = create_session_pool(database.engine)
    return Leadership(pool, 30, gain, loss, owner=name, clock=clock)


async def test_one_of_several_leads_renews_and_another_takes_over_when_it_expires(
    database: Database,
):
    clock, log = Clock(), []
    a, b, c = (_instance(database, name, clock, log) for name in ("a", "b", "c"))
    # All three ask at once: exactly one gets it.
    held = await asyncio.gather(a.step(), b.step(), c.step())
    assert sorted(held) == [False, False, True]
    leader, *others = sorted((a, b, c), key=lambda x: not x.leading)
    assert log == [f"{leader.owner} leads"]
    # Renewed every 10 s, it keeps it well past the 30 s it was first taken for.
    for _ in range(6):
        clock.now += timedelta(seconds=10)
        assert await leader.step() is True
        assert [await other.step() for other in others] == [False, False]
    # It stops renewing (killed): after 30 s the next to ask leads; the old one, back, does not.
    clock.now += timedelta(seconds=31)
    assert await others[0].step() is True
    assert await others[1].step() is False
    assert await leader.step() is False
    assert log[-2:] == [f"{others[0].owner} leads", f"{leader.owner} steps down"]
    # A clean stop gives the lease up: the next asks and leads without waiting it out.
    await others[0].stop()
    assert await others[1].step() is True
    async with create_session_pool(database.engine)() as session:
        found = await leases.holder(session, LEASE)
    assert found is not None and found.owner == others[1].owner


async def test_the_lease_cannot_be_taken_while_it_lives(database: Database):
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    ttl = timedelta(seconds=30)
    async with create_session_pool(database.engine)() as session, session.begin():
        assert await leases.hold(session, "job", "a", now, ttl) is True
        assert await leases.hold(session, "job", "b", now + timedelta(seconds=29), ttl) is False
        assert await leases.hold(session, "job", "a", now + timedelta(seconds=29), ttl) is True
        # Renewed at +29 s: still a's at +58 s, b's at +60 s.
        assert await leases.hold(session, "job", "b", now + timedelta(seconds=58), ttl) is False
        assert await leases.hold(session, "job", "b", now + timedelta(seconds=60), ttl) is True
        found = await leases.holder(session, "job")
        assert found is not None and found.since == now + timedelta(seconds=60)


def _leading(log: Path) -> bool:
    return "leading: " in log.read_text(errors="replace") if log.exists() else False


async def test_two_processes_one_leader_and_a_new_one_within_the_lease_after_a_kill(
    fake_tg: FakeTelegram, database: Database, tmp_path: Path
):
    if not database.url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL database")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    processes = [
        spawn_bot(
            database, fake_tg.base_url, free_port(), log_to=log, OTKLIK__LOGGING__LEVEL="INFO"
        )
        for log in logs
    ]
    try:
        deadline = time.monotonic() + 60
        while not any(_leading(log) for log in logs):
            assert time.monotonic() < deadline, "nobody leads"
            assert all(p.poll() is None for p in processes), "an instance exited"
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # both have asked at least once more by now
        leading = [_leading(log) for log in logs]
        assert leading.count(True) == 1, leading
        leader = leading.index(True)
        follower = 1 - leader
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(10)
        killed = time.monotonic()
        # The lease (3 s in tests) expires; the other asks every second: it leads within 4 s
        # (plus this machine's slack).
        while not _leading(logs[follower]):
            assert time.monotonic() - killed < 30, "no new leader"
            await asyncio.sleep(0.1)
        print(f"\na new leader {time.monotonic() - killed:.1f} s after the kill (lease 3 s)")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


async def test_three_instances_one_killed_mid_campaign_every_customer_gets_it_once(
    fake_tg: FakeTelegram, database: Database, tmp_path: Path
):
    """Three real instances share one Redis bucket for the bot token; the leader sends a
    campaign to 3,000 customers and is SIGKILLed a third of the way: another leads within the
    lease and puts back what the dead one left `sending`. Everyone gets the survey, twice at
    most for what was on the wire at the kill, and the bucket never granted more than the cap
    in any window (its own record of its decisions, read from Redis as it went: the fake's
    arrival clock is bunched by a busy machine's scheduling, the decisions are not). The cap
    is Telegram's 30 a second raised to 300, so that 3,000 take seconds, not 100."""
    if not database.url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL database")
    grants = await GrantLog.connect(REDIS_URL)
    recipients, cap = 3000, 300
    async with create_session_pool(database.engine)() as session, session.begin():
        await session.execute(
            insert(Customer),
            [
                {"display_name": f"C{n}", "language": "ru", "last_channel": "telegram"}
                for n in range(recipients)
            ],
        )
        ids = (await session.execute(select(Customer.id).order_by(Customer.id))).scalars()
        await session.execute(
            insert(ChannelIdentity),
            [
                {"channel": "telegram", "external_id": str(90_000 + n), "customer_id": i}
                for n, i in enumerate(ids)
            ],
        )
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(
            session, name="many", survey_name="nps", run_at=utcnow(), quiet="off"
        )
    token = f"{secrets.randbelow(10**9)}:test-{secrets.token_hex(8)}"  # a bucket of its own
    fake_tg.rate_limit = cap  # it answers 429 beyond the cap in a rolling second
    logs = [tmp_path / f"{n}.log" for n in range(3)]
    processes = [
        spawn_bot(
            database,
            fake_tg.base_url,
            free_port(),
            log_to=log,
            OTKLIK__TELEGRAM__TOKEN=token,
            OTKLIK__REDIS__URL=REDIS_URL,
            OTKLIK__TELEGRAM__SENDS_PER_SECOND=str(cap),
            OTKLIK__CAMPAIGNS__RATE_PER_SECOND=str(cap),
        )
        for log in logs
    ]
    watching = asyncio.create_task(grants.watch(bucket_key("telegram", token)))
    try:
        deadline = time.monotonic() + 180  # a bound for a stall, not a speed claim
        while len(fake_tg.survey_chats()) < recipients // 3:
            assert time.monotonic() < deadline, "the campaign never started"
            await asyncio.sleep(0.05)
        leader = next(n for n, log in enumerate(logs) if _leading(log))
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(10)
        at_kill = len(fake_tg.survey_chats())
        while len(set(fake_tg.survey_chats())) < recipients:
            assert time.monotonic() < deadline, "the campaign never finished"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await grants.close()
    counts = Counter(fake_tg.survey_chats())
    duplicates = sum(n - 1 for n in counts.values())
    leaders = [n for n, log in enumerate(logs) if _leading(log)]
    granted = grants.most_in_any_window()
    arrived = sliding_max([c.at for c in fake_tg.calls_of("sendMessage")])
    print(
        f"\nkilled leader {leader} after {at_kill} sends; leaders {leaders}; dups {duplicates};"
        f" granted at most {granted} in any {WINDOW:g} s (cap {cap}); the fake saw at most"
        f" {arrived} in a second and answered {fake_tg.rate_limited} 429s"
    )
    assert set(counts) == {90_000 + n for n in range(recipients)}
    assert duplicates <= 16  # a claimed batch on the wire at the kill, at most
    assert len(leaders) == 2  # the killed one, then one other
    assert grants.seen >= recipients  # every send took a turn from the shared bucket
    assert granted <= cap
