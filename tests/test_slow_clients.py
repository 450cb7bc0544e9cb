"""Clients that hold connections open: ones that never send a request, stop half-way through
their headers, or trickle a body. Each is closed by the server (the body one with 408), the
customers keep being answered meanwhile, and the ones that hang up mid-body are not mistaken
for a database outage in the log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.conftest import SPAWN_WITHIN, AppFactory, Database, free_port, spawn_bot
from tests.fake_telegram import FakeTelegram
from tests.test_api_fuzz import wait_listening

SESSION = "slow-client-session"
POST = (
    b"POST /api/v1/chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 200\r\n\r\n{"session": '
)


async def _open(port: int, first: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def test_idle_half_sent_and_slow_clients_are_closed(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, http={"idle_seconds": 1, "body_seconds": 1})
    port = int(app.url.rsplit(":", 1)[1])
    idle = [await _open(port, b"") for _ in range(20)]
    half_headers = [
        await _open(port, b"POST /api/v1/chat/messages HTTP/1.1\r\nHo") for _ in range(20)
    ]
    slow_bodies = [await _open(port, POST) for _ in range(20)]
    # Customers are answered while those hang on.
    status, body = await app.post_json("/api/v1/chat/messages", {"session": SESSION, "text": "hi"})
    assert status == 200, body

    async def answer_of(reader: asyncio.StreamReader) -> bytes:
        return await asyncio.wait_for(reader.read(), SPAWN_WITHIN)  # read to the server's close

    for reader, _ in idle + half_headers:
        assert await answer_of(reader) == b""  # closed, no answer owed
    for reader, _ in slow_bodies:
        answer = await answer_of(reader)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"did not arrive within 1 s" in answer

    for _, writer in idle + half_headers + slow_bodies:
        writer.close()


async def test_a_client_hanging_up_mid_body_is_not_a_database_outage(
    faq_loaded: Database, fake_tg: FakeTelegram, tmp_path: Path
):
    """In a real `otklik run` (the test server cancels handlers on a hang-up; the real one
    lets them see the closed connection): before, each of these logged "database unavailable"."""
    port = free_port()
    log = tmp_path / "bot.log"
    bot = spawn_bot(faq_loaded, fake_tg.base_url, port, log_to=log, OTKLIK__LOGGING__LEVEL="DEBUG")
    try:
        await wait_listening(port, bot)
        leavers = [await _open(port, POST) for _ in range(10)]
        await asyncio.sleep(0.3)
        for _, writer in leavers:
            writer.close()
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/api/v1/chat/messages"
            async with http.post(url, json={"session": SESSION, "text": "hi"}) as resp:
                assert resp.status == 200
        for _ in range(int(SPAWN_WITHIN * 10)):
            if log.read_text(encoding="utf-8").count("client left while sending") >= 10:
                break
            await asyncio.sleep(0.1)
        text = log.read_text(encoding="utf-8")
        assert text.count("client left while sending") == 10, text[-3000:]
        assert "database unavailable" not in text
    finally:
        bot.terminate()
        await asyncio.to_thread(bot.wait, SPAWN_WITHIN)
