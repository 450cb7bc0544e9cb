"""An event that cannot be stored is refused with 503, so the platform sends it again; it is
never taken for a redelivery of an earlier one (that would drop it), and the retry is answered
once. The database refuses writes with its own error: PostgreSQL's "disk full" (SQLSTATE
53100, raised by a trigger on `inbound_events`), SQLite's "attempt to write a readonly
database" (query_only on its one pooled connection, as a disk remounted read-only does)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from examples.http_channel_receiver import Receiver, sign
from tests.conftest import HTTP_CHANNEL_SECRET as SECRET
from tests.conftest import PG_URL, AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram

PATH = "/api/v1/channels/shop/messages"


async def _refuse_events(app: RunningApp) -> None:
    async with app.services.engine.connect() as conn:
        if PG_URL:
            await conn.exec_driver_sql(
                "CREATE FUNCTION refuse_events() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; "
                "END $$ LANGUAGE plpgsql"
            )
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse_events BEFORE INSERT ON inbound_events "
                "FOR EACH ROW EXECUTE FUNCTION refuse_events()"
            )
            await conn.commit()
        else:
            await _sqlite_pragma(conn, "PRAGMA query_only = ON")


async def _sqlite_pragma(conn: AsyncConnection, pragma: str) -> None:
    """On the driver's connection, outside a transaction: the engine begins every one with
    BEGIN IMMEDIATE, which query_only refuses."""
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(pragma)  # type: ignore[union-attr]


async def _accept_events(app: RunningApp) -> None:
    async with app.services.engine.connect() as conn:
        if PG_URL:
            await conn.exec_driver_sql("DROP TRIGGER refuse_events ON inbound_events")
            await conn.commit()
        else:
            await _sqlite_pragma(conn, "PRAGMA query_only = OFF")


async def _renew_leases(app: RunningApp) -> None:
    """What a lease renewal does meanwhile: a committed UPDATE of inbound_events, which the
    INSERT-only refusal lets through (on a full disk an update in place can still fit)."""
    async with app.services.session_pool() as session:
        await session.execute(text("UPDATE inbound_events SET lease_until = lease_until"))
        await session.commit()


async def _health(app: RunningApp) -> tuple[int, dict[str, Any]]:
    async with app.http.get(app.url + "/healthz") as resp:
        return resp.status, await resp.json()


async def test_a_telegram_update_that_cannot_be_stored_is_refused_and_its_retry_answered(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    update = fake_tg.message_update(4401, "/start")
    await _refuse_events(app)
    assert await fake_tg.deliver(update) == 503
    status, body = await _health(app)  # reads still work: only a failing write shows it
    assert (status, body["status"], body["database"]) == (503, "error", "writes failing")
    await _accept_events(app)
    assert await _health(app) == (503, body)  # nothing has been written since
    assert await fake_tg.deliver(update) == 200  # Telegram's retry
    assert (await _health(app))[0] == 200  # stored: healthy again
    await app.drain()
    assert len(fake_tg.sent_texts(4401)) == 1
    assert await fake_tg.deliver(update) == 200  # and a redelivery after that is dropped
    await app.drain()
    assert len(fake_tg.sent_texts(4401)) == 1


async def _post(app: RunningApp, payload: dict[str, Any]) -> int:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **sign(SECRET, body)}
    async with app.http.post(app.url + PATH, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


async def test_a_channel_message_that_cannot_be_stored_is_refused_and_its_retry_answered(
    start_app: AppFactory, faq_loaded: Database, platform: tuple[Receiver, str]
):
    receiver, url = platform
    channels = {"http": {"shop": {"outbound_url": url, "secret": SECRET}}}
    app = await start_app(telegram_mode=None, channels=channels)
    question = {"id": "m-1", "user": "u-1", "text": "How much is shipping?"}
    await _refuse_events(app)
    assert await _post(app, question) == 503
    if PG_URL:
        await _renew_leases(app)  # an UPDATE goes through; arrivals are still refused
    status, body = await _health(app)
    assert (status, body["database"]) == (503, "writes failing")
    assert all(part.startswith("database_writes:") for part in body["problems"])
    # Behind a proxy (anyone not on this machine): the status, never the reasons.
    relayed = {"X-Forwarded-For": "203.0.113.9"}
    async with app.http.get(app.url + "/healthz", headers=relayed) as resp:
        assert (resp.status, await resp.json()) == (
            503,
            {"status": "error", "database": "writes failing"},
        )
    await _accept_events(app)
    assert await _post(app, question) == 202  # the platform's retry
    assert await _health(app) == (200, {"status": "ok", "database": "ok"})
    deadline = time.monotonic() + 5
    while not receiver.received:
        assert time.monotonic() < deadline, "the retry was never answered"
        await asyncio.sleep(0.02)
    assert await _post(app, question) == 200  # a redelivery after that is dropped
    await asyncio.sleep(0.2)
    assert [r["title"] for r in receiver.received] == ["How much does delivery cost?"]
