"""Work is claimed, not assumed: two outboxes (two instances) recovering the same database at
once send each pending row once; a live instance's fresh replies are never taken by another;
a dead instance's are taken once its lease runs out, whatever their age; SQLite's one process
takes a killed predecessor's at once. Inbound events the same way, and an event two instances
both hold is handled by one: the other's handling transaction waits and finds it done. One
chat's burst spread over two instances is handled and answered in order. A web chat reply sent
by one instance reaches the visitor's socket held by another."""

from __future__ import annotations

import asyncio
import html
import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.core.delivery.outbox import (
    Outbox,
    ReplyBuffer,
    SendResult,
    SendStatus,
    reply_to_payload,
)
from bot.core.messages import Reply
from storage.db import create_session_pool
from storage.models import ConversationMessage, InboundEvent, OutboxMessage, utcnow
from storage.repositories.events import InboundEventRepository
from tests.conftest import WEBHOOK_SECRET, AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram


class Recorder:
    """A channel that takes a moment per send, so two instances' sends interleave."""

    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        await asyncio.sleep(0.001)
        self.sent.append(recipient)
        return SendResult(SendStatus.SENT)


async def _queue(
    database: Database, count: int, owner: str | None, lease_left: float, age: float = 0.0
) -> None:
    now = utcnow()
    async with create_session_pool(database.engine)() as session, session.begin():
        for number in range(count):
            session.add(
                OutboxMessage(
                    channel="telegram",
                    recipient=f"{owner}-{number}",
                    payload=reply_to_payload(Reply("hello")),
                    status="pending",
                    attempts=0,
                    created_at=now - timedelta(seconds=age),
                    lease_owner=owner,
                    lease_until=None if owner is None else now + timedelta(seconds=lease_left),
                )
            )


def _outbox(database: Database, owner: str, sent: list[str], *, sole: bool = False) -> Outbox:
    return Outbox(
        create_session_pool(database.engine),
        {"telegram": Recorder(sent)},
        owner=owner,
        lease_seconds=30,
        recovery_page=50,
        sole=sole,
    )


async def test_two_instances_recovering_at_once_send_each_row_once(database: Database):
    # A dead instance left 300 replies, its lease long over.
    await _queue(database, 300, "dead", lease_left=-60, age=600)
    sent: list[str] = []
    a, b = _outbox(database, "a", sent), _outbox(database, "b", sent)
    counts = await asyncio.gather(a.recover(), b.recover())
    await asyncio.gather(a.flush(), b.flush())
    assert sum(counts) == 300, counts
    assert Counter(sent).most_common(1)[0][1] == 1 and len(sent) == 300
    async with create_session_pool(database.engine)() as session:
        statuses = Counter((await session.execute(select(OutboxMessage.status))).scalars())
    assert statuses == {"sent": 300}


async def test_a_live_instances_replies_wait_for_its_lease_and_a_dead_ones_do_not(
    database: Database,
):
    # "a" queued 5 replies a minute ago and is alive (lease 30 s ahead); "gone" died with 3
    # queued a second ago (lease over).
    await _queue(database, 5, "a", lease_left=30, age=60)
    await _queue(database, 3, "gone", lease_left=-1, age=1)
    sent: list[str] = []
    b = _outbox(database, "b", sent)
    assert await b.recover(min_age=15) == 3  # the dead one's, young as they are
    assert sorted(sent) == ["gone-0", "gone-1", "gone-2"]
    # "a" renews while it lives: still not b's. Then "a" dies: after its lease, b takes them.
    a = _outbox(database, "a", [])
    await a.renew_leases()
    assert await b.recover(min_age=15) == 0
    async with create_session_pool(database.engine)() as session, session.begin():
        for row in (await session.execute(select(OutboxMessage))).scalars():
            if row.lease_owner == "a":
                row.lease_until = utcnow() - timedelta(seconds=1)
    assert await b.recover(min_age=15) == 5
    await b.flush()
    assert len(sent) == 8


async def test_the_only_instance_takes_a_killed_predecessors_replies_at_once(
    database: Database,
):
    """SQLite: one process per file (bot/startup_claims.py), so a lease left is a dead one's."""
    await _queue(database, 4, "killed", lease_left=30, age=1)
    sent: list[str] = []
    assert await _outbox(database, "restarted", sent, sole=True).recover(min_age=15) == 4


async def _store_events(database: Database, count: int, owner: str, lease_left: float) -> None:
    now = utcnow()
    async with create_session_pool(database.engine)() as session, session.begin():
        await InboundEventRepository(session).store_many(
            "telegram",
            [(f"{owner}-{n}", "{}") for n in range(count)],
            lease=(owner, now + timedelta(seconds=lease_left)),
        )


async def test_two_instances_claim_a_dead_ones_events_apart(database: Database):
    await _store_events(database, 300, "dead", lease_left=-5)
    pool = create_session_pool(database.engine)

    async def claim_all(owner: str) -> list[int]:
        taken: list[int] = []
        after = 0
        while True:
            async with pool() as session, session.begin():
                page = await InboundEventRepository(session).claim_page(
                    "telegram", utcnow(), after, 50, (owner, utcnow() + timedelta(seconds=30))
                )
            if not page:
                return taken
            taken += [event_id for event_id, _ in page]
            after = page[-1][0]
            await asyncio.sleep(0)

    a, b = await asyncio.gather(claim_all("a"), claim_all("b"))
    assert len(a) + len(b) == 300 and not set(a) & set(b)


async def test_an_event_being_handled_elsewhere_is_not_handled_twice(database: Database):
    """Both instances got the event (one recovered it as the other was finishing): the
    second's handling transaction waits for the first's and then sees it done."""
    await _store_events(database, 1, "a", lease_left=30)
    pool = create_session_pool(database.engine)
    async with pool() as session:
        (event_id,) = (await session.execute(select(InboundEvent.id))).scalars()
    first_has_it = asyncio.Event()

    async def first() -> set[int]:
        async with pool() as session, session.begin():
            found = await InboundEventRepository(session).still_pending([event_id])
            first_has_it.set()
            await asyncio.sleep(0.3)  # handling
            await InboundEventRepository(session).mark_done([event_id])
        return found

    async def second() -> set[int]:
        await first_has_it.wait()
        async with pool() as session, session.begin():
            return await InboundEventRepository(session).still_pending([event_id])

    if not database.url.startswith("postgresql"):
        pytest.skip("SQLite has one writer and one process: nothing else can hold the event")
    assert await asyncio.gather(first(), second()) == [{event_id}, set()]


async def test_a_reply_sent_by_one_instance_reaches_a_socket_held_by_another(
    start_app: AppFactory, database: Database
):
    if not database.url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL database")
    a = await start_app()
    b = await start_app()
    visitor = "visitor-on-b-0001"
    async with b.chat_socket(visitor) as socket:
        buffer = ReplyBuffer()
        buffer.extend("webchat", visitor, [Reply("Ответ от поддержки")])
        async with a.services.session_pool() as session, session.begin():
            queued = await a.services.outbox.enqueue(session, buffer)
        await a.services.outbox.deliver(queued)  # A sends; the socket is B's
        frame = await socket.receive_json(timeout=10)
    assert frame["type"] == "replies"
    assert frame["replies"][0]["text"] == "Ответ от поддержки"


async def test_a_clean_stop_gives_its_replies_up_at_once(database: Database):
    sent: list[str] = []
    a, b = _outbox(database, "a", []), _outbox(database, "b", sent)
    buffer = ReplyBuffer()
    buffer.extend("telegram", "71", [Reply("one"), Reply("two")])
    async with create_session_pool(database.engine)() as session, session.begin():
        await a.enqueue(session, buffer)  # queued by a, which stops before sending them
    assert await b.recover(min_age=0) == 0  # a's, and a lives
    await a.stop()
    assert await b.recover(min_age=15) == 2  # given up: b sends them without waiting


QUESTIONS = (
    "How long does delivery take?",
    "Which payment methods do you accept?",
    "How do I return an item?",
    "Can I pick up the order myself?",
    "When will I get my money back for a return?",
)


async def test_one_chats_burst_spread_over_two_instances_is_handled_and_answered_in_order(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """200 updates of one chat, every other one to the other instance, all at once: each is
    handled once, in the order stored (the conversation log's order, whose ids are taken
    once the chat is held), and the customer gets the answers in that order."""
    if not faq_loaded.url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL database")
    unlimited = {"sends_per_second": 100_000}
    # The product's lease: the 3 s the other tests use (to see a killed instance's rows taken
    # soon) can lapse on a starved machine between two renewals, and a reply then stops
    # waiting for an instance that only looked dead. Nobody dies here.
    live = {"lease_seconds": 30}
    a = await start_app(telegram=unlimited, outbox=live)
    b = await start_app(telegram=unlimited, outbox=live)
    texts = [f"{QUESTIONS[n % len(QUESTIONS)]} ({n})" for n in range(200)]
    updates = [fake_tg.message_update(777, text) for text in texts]

    async def post(app: RunningApp, update: dict[str, object]) -> int:
        async with app.http.post(
            app.url + "/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        ) as resp:
            return resp.status

    # Stored in the order sent: each waits for its predecessor's storing, not its handling.
    for n, update in enumerate(updates):
        assert await post((a, b)[n % 2], update) == 200
    pool = create_session_pool(faq_loaded.engine)
    deadline = asyncio.get_running_loop().time() + 120  # a bound for a stall, not a speed
    while True:
        async with pool() as session:
            statuses = Counter((await session.execute(select(InboundEvent.status))).scalars())
        if statuses == {"done": 200}:
            break
        assert asyncio.get_running_loop().time() < deadline, statuses
        await asyncio.sleep(0.2)
    await a.drain()
    await b.drain()
    async with pool() as session:
        log = (
            await session.execute(
                select(ConversationMessage.direction, ConversationMessage.text).order_by(
                    ConversationMessage.id
                )
            )
        ).all()
    assert [text for direction, text in log if direction == "in"] == texts
    answers = [text for direction, text in log if direction == "out"]
    assert len(set(answers)) >= len(QUESTIONS)  # different answers: their order shows
    sent = [html.unescape(re.sub(r"<[^>]+>", "", text)) for text in fake_tg.sent_texts(777)]
    assert sent == answers
