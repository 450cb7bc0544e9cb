"""A second `otklik run` started by mistake does no work: it is refused on a SQLite file that a
live process holds, and it resumes and sends nothing before it has its HTTP port. Both are real
processes against the fake Bot API; the pending work is real rows in the database."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.core.delivery.outbox import reply_to_payload
from bot.core.messages import Reply
from bot.startup_claims import claim_sqlite_file, sqlite_file
from storage.db import create_session_pool
from storage.models import InboundEvent, OutboxMessage, utcnow
from tests.conftest import (
    PG_URL,
    ROOT,
    SPAWN_WITHIN,
    Database,
    free_port,
    spawn_bot,
)
from tests.fake_telegram import FakeTelegram


def _second_bot(database: Database, api_base: str, port: int) -> subprocess.Popen[bytes]:
    return spawn_bot(database, api_base, port, read_stderr=True)


async def _exit_of(
    process: subprocess.Popen[bytes], within: float = SPAWN_WITHIN
) -> tuple[int, str]:
    try:
        _, stderr = await asyncio.to_thread(process.communicate, None, within)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.communicate)
        pytest.fail("the second process kept running: it is doing the first one's work")
    return process.returncode, stderr.decode("utf-8", "replace")


@pytest.mark.skipif(bool(PG_URL), reason="one process per SQLite file; PostgreSQL uses leases")
async def test_a_second_run_on_a_live_sqlite_file_is_refused_and_sends_nothing(
    fake_tg: FakeTelegram, faq_loaded: Database
):
    port = free_port()
    first = spawn_bot(faq_loaded, fake_tg.base_url, port)
    chats = list(range(7100, 7140))
    try:
        await fake_tg.wait_for("setWebhook", within=SPAWN_WITHIN)
        # The first process's replies are on the wire, still pending in SQL, when the second
        # one starts: the rows a second process used to resume and send again.
        fake_tg.delays["sendMessage"] = 2.0
        statuses = await asyncio.gather(
            *(fake_tg.deliver(fake_tg.message_update(c, "как отменить заказ")) for c in chats)
        )
        assert set(statuses) == {200}
        pool = create_session_pool(faq_loaded.engine)
        for _ in range(300):  # the replies are queued once the updates have been handled
            async with pool() as session:
                queued = await session.scalar(select(func.count(OutboxMessage.id)))
                pending = await session.scalar(
                    select(func.count()).where(OutboxMessage.status == "pending")
                )
            if queued == len(chats):
                break
            await asyncio.sleep(0.05)
        assert pending, "the test needs replies still pending when the second process starts"
        second = _second_bot(faq_loaded, fake_tg.base_url, free_port())
        code, stderr = await _exit_of(second)
        assert code != 0
        assert "another otklik process" in stderr
        assert str(sqlite_file(faq_loaded.url)) in stderr  # the message names the file
        fake_tg.delays.pop("sendMessage")

        async def all_sent() -> bool:
            async with create_session_pool(faq_loaded.engine)() as session:
                rows = (await session.execute(select(OutboxMessage.status))).scalars()
                return set(rows) == {"sent"}

        for _ in range(300):
            if await all_sent():
                break
            await asyncio.sleep(0.1)
        assert await all_sent()
    finally:
        first.terminate()
        await asyncio.to_thread(first.wait, 20)
    per_chat = Counter(int(c.params["chat_id"]) for c in fake_tg.calls_of("sendMessage"))
    assert set(per_chat) == set(chats)
    assert max(per_chat.values()) == 1  # nobody got a reply twice


async def test_a_run_without_its_port_resumes_and_sends_nothing(
    fake_tg: FakeTelegram, faq_loaded: Database
):
    """Pending replies and updates left by an earlier process stay untouched by a process that
    cannot open its port (here another program holds it)."""
    long_ago = utcnow() - timedelta(minutes=5)
    update = fake_tg.message_update(7201, "как отменить заказ")
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        session.add(
            OutboxMessage(
                channel="telegram",
                recipient="7200",
                payload=reply_to_payload(Reply("ответ, ждущий отправки")),
                created_at=long_ago,
            )
        )
        session.add(
            InboundEvent(
                source="telegram",
                external_id=str(update["update_id"]),
                payload=json.dumps(update),
                received_at=long_ago,
            )
        )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        process = _second_bot(faq_loaded, fake_tg.base_url, taken.getsockname()[1])
        code, stderr = await _exit_of(process)
    assert code == 3
    assert "cannot listen on 127.0.0.1" in stderr
    assert fake_tg.calls_of("sendMessage") == []
    async with create_session_pool(faq_loaded.engine)() as session:
        outbox = (await session.execute(select(OutboxMessage.status))).scalars().all()
        events = (await session.execute(select(InboundEvent.status))).scalars().all()
    assert (outbox, events) == (["pending"], ["pending"])


def test_the_sqlite_claim_is_held_until_released_and_names_the_holder(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    with claim_sqlite_file(url) as held:
        assert held == (tmp_path / "shop.db").resolve()
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from bot.startup_claims import claim_sqlite_file\n"
                f"with claim_sqlite_file({url!r}): sys.exit(0)",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode != 0
        assert "DatabaseInUse" in probe.stderr and "shop.db" in probe.stderr
    with claim_sqlite_file(url):  # released: the next process may take it
        pass
    with claim_sqlite_file("postgresql+asyncpg://u@h/db") as none:
        assert none is None
    with claim_sqlite_file("sqlite+aiosqlite://") as memory:
        assert memory is None
