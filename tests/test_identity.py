"""One customer across channels: a link code typed in another channel, and merges by staff."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.models import ChannelIdentity, Customer, CustomerMerge, Ticket
from tests.conftest import AppFactory, Database, run_otklik
from tests.fake_telegram import FakeTelegram

STAFF_CHAT = -100444
AGENT = 8
CUSTOMER = 4001
WEB = "web-link-session-01"
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def _web(app, text: str, session: str = WEB) -> str:  # type: ignore[no-untyped-def]
    status, body = await app.post_json("/api/v1/chat/messages", {"session": session, "text": text})
    assert status == 200, body
    return str(body["replies"][-1]["text"])


async def _web_reply(app, text: str, session: str = WEB) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    status, body = await app.post_json("/api/v1/chat/messages", {"session": session, "text": text})
    assert status == 200, body
    return dict(body["replies"][-1])


async def _press(app, data: str, session: str = WEB) -> str:  # type: ignore[no-untyped-def]
    status, body = await app.post_json("/api/v1/chat/buttons", {"session": session, "data": data})
    assert status == 200, body
    return str(body["replies"][-1]["text"])


async def _link_web(app, code: str, session: str = WEB) -> str:  # type: ignore[no-untyped-def]
    """Type the code in the web chat and confirm: what the bot says at the end."""
    asked = await _web_reply(app, f"/link {code}", session)
    if not asked["buttons"]:
        return str(asked["text"])
    assert "Подтверждайте, только если тот чат ваш" in asked["text"], asked
    yes = next(b["data"] for b in asked["buttons"] if b["text"].startswith("✅"))
    return await _press(app, yes, session)


async def test_a_customer_links_the_web_chat_and_continues_the_same_ticket_there(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[AGENT] = "member"
    clock = Clock()
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT}, clock=clock)
    for text in ("/complaint", "Сломался чайник, заказ 77"):
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER, text))
        await app.drain()
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, "/link"))
    await app.drain()
    offer = fake_tg.sent_texts(CUSTOMER)[-1]
    found = CODE.search(offer)
    assert found is not None and offer.startswith("Ваш код:")
    code = found.group()

    # A wrong code and a lower-case right one: one answer for every bad code.
    assert (await _web(app, "/link ABCD-EFGH")).startswith("Код не подошёл")
    asked = await _web_reply(app, f"/link {code.lower()}")
    # Nothing is joined yet: the typer sees where the code came from and is asked.
    assert asked["text"].startswith("Этот код получен в чате «Telegram» (Анна)"), asked
    await app.drain()
    told = fake_tg.sent_texts(CUSTOMER)[-1]
    assert told.startswith(f"Ваш код {code} ввели в чате «веб-чат»"), told
    async with faq_loaded.engine.connect() as conn:
        assert (await conn.execute(select(CustomerMerge))).all() == []
    yes = next(b["data"] for b in asked["buttons"] if b["text"].startswith("✅"))
    assert (await _press(app, yes)).startswith("Готово")
    await app.drain()
    assert (
        fake_tg.sent_texts(CUSTOMER)[-1]
        == "Готово: этот чат и чат «веб-чат» теперь одна переписка."
    )
    # The same ticket continues in the web chat.
    assert await _web(app, "Фото пришлю вечером") == "Добавлено в обращение №1."
    assert "#1 ·" in await _web(app, "/mytickets")
    # A staff reply reaches the customer where they wrote last: the web chat, not Telegram.
    to_telegram = len(fake_tg.sent_texts(CUSTOMER))
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Ждём фото", thread_id=500))
    await app.drain()
    _, restored = await app.chat_history(WEB)
    history = [m["text"] for m in restored["messages"]]
    assert history[-1] == "Поддержка (Иван):\nЖдём фото"
    assert len(fake_tg.sent_texts(CUSTOMER)) == to_telegram
    # The whole history is one customer's: the Telegram messages show in the web chat's.
    assert "Сломался чайник, заказ 77" in history
    # The staff topic saw the web chat message, in order, on the same ticket.
    topic = [t for t in fake_tg.sent_texts(STAFF_CHAT) if "Фото пришлю вечером" in t]
    assert topic, fake_tg.sent_texts(STAFF_CHAT)

    async with faq_loaded.engine.connect() as conn:
        customers = (await conn.execute(select(Customer.id, Customer.merged_into))).all()
        identities = (
            await conn.execute(select(ChannelIdentity.channel, ChannelIdentity.customer_id))
        ).all()
        (merge,) = (await conn.execute(select(CustomerMerge))).all()
        tickets = (await conn.execute(select(Ticket.customer_id))).scalars().all()
    survivor = next(c for c, into in customers if into is None)
    assert {(channel, owner) for channel, owner in identities} == {
        ("telegram", survivor),
        ("webchat", survivor),
    }
    assert tickets == [survivor]
    assert merge.target_id == survivor and merge.by == "link code"
    details = json.loads(merge.details)
    assert [i["channel"] for i in details["identities"]] == ["webchat"]

    # A code works once, and not after ten minutes.
    assert (await _link_web(app, code, "web-link-session-02")).startswith("Код не подошёл")
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, "/link"))
    await app.drain()
    late = CODE.search(fake_tg.sent_texts(CUSTOMER)[-1])
    assert late is not None
    clock.now = START + timedelta(minutes=11)
    assert (await _link_web(app, late.group(), "web-link-session-03")).startswith("Код не подошёл")
    # Typed in a chat that is already this customer: nothing to do.
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, "/link"))
    await app.drain()
    again = CODE.search(fake_tg.sent_texts(CUSTOMER)[-1])
    assert again is not None
    assert (await _web(app, f"/link {again.group()}")).startswith("Этот чат уже связан")


async def test_staff_merge_two_customers_from_the_cli(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database, tmp_path: Path
):
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _web(app, "/complaint")
    await _web(app, "Не пришёл чек")
    for text in ("/complaint", "Чек так и не пришёл"):
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER, text))
        await app.drain()
    async with faq_loaded.engine.connect() as conn:
        ids = dict(
            (await conn.execute(select(ChannelIdentity.channel, ChannelIdentity.customer_id))).all()
        )
    web, telegram = ids["webchat"], ids["telegram"]
    bad = await asyncio.to_thread(
        run_otklik, faq_loaded, "customers", "merge", str(web), "999", cwd=tmp_path
    )
    assert bad.returncode == 2 and "no customer 999" in bad.stderr
    merged = await asyncio.to_thread(
        run_otklik,
        faq_loaded,
        "customers",
        "merge",
        str(web),
        str(telegram),
        "--by",
        "Olga",
        cwd=tmp_path,
    )
    assert merged.returncode == 0, merged.stderr
    assert f"customer {web} is now customer {telegram}" in merged.stdout
    shown = await asyncio.to_thread(
        run_otklik, faq_loaded, "customers", "show", str(telegram), cwd=tmp_path
    )
    assert "telegram" in shown.stdout and "webchat" in shown.stdout
    assert f"merged from {web} by Olga" in shown.stdout
    # Two open tickets of one person became one: the newer was merged into the older.
    async with faq_loaded.engine.connect() as conn:
        tickets = (
            await conn.execute(
                select(Ticket.id, Ticket.customer_id, Ticket.status).order_by(Ticket.id)
            )
        ).all()
    assert [(t.customer_id, t.status) for t in tickets] == [(telegram, "new"), (telegram, "closed")]


async def test_staff_say_two_tickets_are_one_person(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _web(app, "/complaint")
    await _web(app, "Не пришёл чек")  # ticket #1, topic 500
    for text in ("/complaint", "Где мой чек?"):  # ticket #2, topic 501
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER, text))
        await app.drain()
    await fake_tg.deliver(
        fake_tg.group_message(STAFF_CHAT, AGENT, "/samecustomer 1", thread_id=501)
    )
    await app.drain()
    notes = fake_tg.sent_texts(STAFF_CHAT)
    assert any("the customer of #1 is this customer now" in n for n in notes), notes
    assert any("Merged into #1" in n or "merged here" in n for n in notes), notes
    async with faq_loaded.engine.connect() as conn:
        owners = set((await conn.execute(select(Ticket.customer_id))).scalars())
        (merge,) = (await conn.execute(select(CustomerMerge))).all()
    assert len(owners) == 1 and merge.by == "Иван"
    # Now a staff reply in either topic reaches the person where they wrote last: Telegram.
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Чек отправлен", thread_id=500))
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Поддержка (Иван):\nЧек отправлен"


async def test_staff_choose_the_reply_channel_and_see_each_message_s_channel(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database, tmp_path: Path
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    for text in ("/complaint", "Сломался чайник"):
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER, text))
        await app.drain()
    await fake_tg.wait_for("sendMessage")
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, "/link"))
    await app.drain()
    code = CODE.search(fake_tg.sent_texts(CUSTOMER)[-1])
    assert code is not None
    assert (await _link_web(app, code.group())).startswith("Готово")
    await _web(app, "Пишу теперь отсюда")  # the customer wrote last in the web chat
    topic = fake_tg.sent_texts(STAFF_CHAT)
    assert "<b>💬 Анна · webchat</b>\nПишу теперь отсюда" in topic, topic

    async def staff(text: str) -> None:
        await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, text, thread_id=500))
        await app.drain()

    await staff("/via vk")  # no VK address: refused, naming the ones there are
    assert "no vk address. Their channels: telegram, webchat" in fake_tg.sent_texts(STAFF_CHAT)[-1]
    await staff("/via telegram")
    assert "now go to the customer's telegram" in fake_tg.sent_texts(STAFF_CHAT)[-1]
    await staff("Перезвоним")
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Поддержка (Иван):\nПерезвоним"
    # The CLI goes back to the channel used last, and its reply reaches the web chat and shows
    # in the staff topic.
    back = await asyncio.to_thread(
        run_otklik, faq_loaded, "tickets", "via", "1", "last", cwd=tmp_path
    )
    assert back.returncode == 0, back.stderr
    bad = await asyncio.to_thread(
        run_otklik, faq_loaded, "tickets", "via", "1", "whatsapp", cwd=tmp_path
    )
    assert bad.returncode == 2 and "no whatsapp address" in bad.stderr
    sent = await asyncio.to_thread(
        run_otklik, faq_loaded, "tickets", "reply", "1", "Ответ из консоли", cwd=tmp_path
    )
    assert sent.returncode == 0 and "for webchat" in sent.stdout, sent.stderr
    for _ in range(100):
        _, restored = await app.chat_history(WEB)
        history = [m["text"] for m in restored["messages"]]
        if history[-1].endswith("Ответ из консоли"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(history)
    for _ in range(100):  # the running bot claims the CLI's hand-over within a second
        if any("Ответ из консоли" in t for t in fake_tg.sent_texts(STAFF_CHAT)):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(fake_tg.sent_texts(STAFF_CHAT))
    shown = await asyncio.to_thread(run_otklik, faq_loaded, "tickets", "show", "1", cwd=tmp_path)
    lines = shown.stdout.splitlines()
    assert any("customer:" in line and "(telegram): Сломался чайник" in line for line in lines)
    assert any("(webchat): Пишу теперь отсюда" in line for line in lines), lines
    assert any("staff:Иван (telegram): Перезвоним" in line for line in lines), lines
    assert any("staff:cli (webchat): Ответ из консоли" in line for line in lines), lines


async def test_a_code_typed_on_someone_s_word_joins_nothing_until_confirmed(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """The trick: "type /link ABCD-EFGH to get your discount". The code is the trickster's,
    asked for in the web chat; the customer types it in Telegram. They are told the code came
    from a web chat and asked; saying no joins nothing. And a code owner who did not expect it
    calls it off: then nobody's yes joins anything."""
    trickster = "web-trickster-0001"
    await _web(app := await start_app(), "/complaint", trickster)
    code = CODE.search(await _web(app, "/link", trickster))
    assert code is not None
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, "Сломался чайник, заказ 77"))
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, f"/link {code.group()}"))
    await app.drain()
    asked = fake_tg.calls_of("sendMessage")[-1].params
    assert asked["text"].startswith("Этот код получен в чате «веб-чат»"), asked["text"]
    buttons = [b for row in asked["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["✅ Да, это мой чат", "Нет, отмена"]
    # The trickster's chat hears that Telegram typed it (and by whom), nothing more.
    _, history = await app.chat_history(trickster)
    notice = history["messages"][-1]["text"]
    assert notice.startswith(f"Ваш код {code.group()} ввели в чате «Telegram» (Анна)"), notice
    assert "чайник" not in notice
    await fake_tg.deliver(fake_tg.callback_update(CUSTOMER, buttons[1]["callback_data"]))
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Хорошо, чаты не связаны."
    async with faq_loaded.engine.connect() as conn:
        assert (await conn.execute(select(CustomerMerge))).all() == []
        owners = (await conn.execute(select(ChannelIdentity.customer_id))).scalars().all()
    assert len(set(owners)) == 2
    _, history = await app.chat_history(trickster)
    assert not any("чайник" in m["text"] for m in history["messages"])

    # Typed again, the owner says "not me": the typer's yes then joins nothing.
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, f"/link {code.group()}"))
    await app.drain()
    asked = fake_tg.calls_of("sendMessage")[-1].params
    yes = asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    _, history = await app.chat_history(trickster)
    not_me = next(
        b["data"] for b in history["messages"][-1]["buttons"] if b["text"] == "🚫 Это не я"
    )
    assert (await _press(app, not_me, trickster)).startswith("Код отменён")
    await fake_tg.deliver(fake_tg.callback_update(CUSTOMER, yes))
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1].startswith("Код не подошёл")
    async with faq_loaded.engine.connect() as conn:
        assert (await conn.execute(select(CustomerMerge))).all() == []
    # Someone else's chat cannot answer for the typer, nor the typer call the code off.
    assert (await _press(app, yes, "web-bystander-001")).startswith("Код не подошёл")
