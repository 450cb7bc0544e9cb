"""A real `otklik run` process: started while Telegram is unreachable, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from typing import Any

import aiohttp
from sqlalchemy import func, select

from storage.db import create_session_pool
from storage.models import InboundEvent, OutboxMessage
from tests.conftest import SPAWN_WITHIN, AppFactory, Database, free_port, spawn_bot
from tests.fake_telegram import FakeTelegram


async def _get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def _wait_http(
    url: str, process: subprocess.Popen[bytes], within: float = SPAWN_WITHIN
) -> None:
    deadline = time.monotonic() + within
    while True:
        assert process.poll() is None, f"otklik run exited with {process.returncode}"
        try:
            await _get_json(url)
            return
        except aiohttp.ClientError:
            assert time.monotonic() < deadline, "otklik run never listened"
            await asyncio.sleep(0.1)


async def test_telegram_unreachable_at_start_keeps_serving_and_retries(
    database: Database, faq_loaded: Database
):
    api_port, port = free_port(), free_port()
    process = spawn_bot(database, f"http://127.0.0.1:{api_port}", port)
    fake = FakeTelegram()
    try:
        await _wait_http(f"http://127.0.0.1:{port}/healthz", process)
        status, body = await _get_json(f"http://127.0.0.1:{port}/healthz")
        assert (status, body["status"]) == (200, "degraded")
        assert "setWebhook" in body["problems"]["telegram_webhook"]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/api/v1/chat/messages",
                json={"session": "lifecycle-1", "text": "как вернуть товар"},
            ) as resp,
        ):
            assert resp.status == 200  # the web chat works without Telegram
            assert "14 дней" in str(await resp.json())
        await fake.start(api_port)  # Telegram is back
        await fake.wait_for("setWebhook", within=SPAWN_WITHIN)
        await asyncio.sleep(0.3)
        status, body = await _get_json(f"http://127.0.0.1:{port}/healthz")
        assert (status, body["status"]) == (200, "ok")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 20)
        await fake.close()


async def test_sigterm_drains_and_flushes_so_a_restart_repeats_nothing(
    fake_tg: FakeTelegram, faq_loaded: Database, start_app: AppFactory
):
    port = free_port()
    process = spawn_bot(faq_loaded, fake_tg.base_url, port)
    chats = list(range(9600, 9800))
    try:
        await fake_tg.wait_for("setWebhook", within=SPAWN_WITHIN)
        fake_tg.delays["sendMessage"] = 0.02
        statuses = await asyncio.gather(
            *(fake_tg.deliver(fake_tg.message_update(c, "как отменить заказ")) for c in chats)
        )
        assert set(statuses) == {200}
    finally:
        process.send_signal(signal.SIGTERM)
        # Not process.wait(): the fake Bot API lives in this event loop and must keep
        # answering the sends the stopping process still has on the wire.
        returncode = await asyncio.to_thread(process.wait, 20)
    assert returncode == 0
    async with create_session_pool(faq_loaded.engine)() as session:
        pending_events = await session.scalar(
            select(func.count()).where(InboundEvent.status == "pending")
        )
        outbox = Counter((await session.execute(select(OutboxMessage.status))).scalars())
    sent_before = len(fake_tg.calls_of("sendMessage"))
    print(f"\nafter SIGTERM: {pending_events} events pending, outbox {dict(outbox)}")
    assert pending_events == 0  # every acknowledged update was handled
    assert outbox["sent"] == sent_before  # every reply sent was marked sent
    assert outbox["sent"] + outbox["pending"] == len(chats)
    app = await start_app()  # the next process sends the rest, and nothing twice

    async def all_sent() -> bool:
        async with create_session_pool(faq_loaded.engine)() as session:
            statuses = set((await session.execute(select(OutboxMessage.status))).scalars())
        return statuses == {"sent"}

    deadline = time.monotonic() + 30
    while not await all_sent():
        assert time.monotonic() < deadline, "the restart did not send the rest"
        await asyncio.sleep(0.1)
    await app.drain()
    per_chat = Counter(int(c.params["chat_id"]) for c in fake_tg.calls_of("sendMessage"))
    assert set(per_chat) == set(chats)
    assert max(per_chat.values()) == 1
