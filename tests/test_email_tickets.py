"""Email to support as tickets, against a real SMTP server: a mail opens a ticket, staff answer
from the Telegram staff group and the customer gets a threaded email, the customer's answer
(quoted history below it) joins the same ticket and staff see only the new text; another
sender's reply to that thread, auto-replies and bounces never join it or loop."""

from __future__ import annotations

import time
from email.message import EmailMessage

from sqlalchemy import func, select

from bot.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from storage.db import create_session_pool
from storage.models import ChannelIdentity, Customer, Ticket, TicketMessage
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.smtp_server import Mailbox, smtp_server

STAFF_CHAT = -100123
AGENT = 8
SECRET = "inbound-secret-for-tests-only"
SUPPORT = "support@shop.example"


def _mail(
    sender: str,
    subject: str,
    body: str,
    message_id: str,
    to: str = SUPPORT,
    in_reply_to: str | None = None,
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


async def _post(app: RunningApp, raw: bytes, secret: str = SECRET) -> tuple[int, dict[str, object]]:
    stamp = str(int(time.time()))
    headers = {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(secret, stamp, raw),
        "Content-Type": "message/rfc822",
    }
    async with app.http.post(app.url + "/email/inbound", data=raw, headers=headers) as resp:
        return resp.status, await resp.json()


async def _tickets(database: Database) -> list[tuple[int, str, int]]:
    async with create_session_pool(database.engine)() as session:
        rows = await session.execute(
            select(Ticket.id, Ticket.subject, Ticket.customer_id).order_by(Ticket.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


def _staff_texts(fake: FakeTelegram) -> list[str]:
    return [
        str(c.params.get("text", ""))
        for c in fake.calls
        if c.method == "sendMessage" and int(c.params["chat_id"]) == STAFF_CHAT
    ]


async def _start(start_app: AppFactory, mailbox: Mailbox) -> RunningApp:
    return await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        scheduler={"enabled": False},
        email={
            "smtp_url": mailbox.url,
            "from_address": f"Shop support <{SUPPORT}>",
            "support_address": SUPPORT,
            "inbound_secret": SECRET,
        },
    )


async def test_an_email_thread_is_one_ticket(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.members[AGENT] = "member"
    with smtp_server() as mailbox:
        app = await _start(start_app, mailbox)
        first = _mail(
            "Анна <anna@example.org>",
            "Заказ 1187 не пришёл",
            "Здравствуйте! Жду курьера с утра.",
            "<m1@mail.example.org>",
        )
        assert await _post(app, first) == (202, {"accepted": True, "duplicate": False})
        assert await _post(app, first) == (202, {"accepted": True, "duplicate": True})
        await app.drain()
        ((ticket_id, subject, anna),) = await _tickets(database)
        assert subject == "Заказ 1187 не пришёл"
        assert any("Жду курьера с утра" in text for text in _staff_texts(fake_tg))
        (ack,) = mailbox.to("anna@example.org")  # "your ticket is open", in the thread
        assert ack["In-Reply-To"] == "<m1@mail.example.org>"
        assert ack["Subject"] == f"Re: Заказ 1187 не пришёл [#{ticket_id}]"
        reply_address = str(ack["Reply-To"])
        assert reply_address.startswith("support+t.") and reply_address.endswith("@shop.example")

        # Staff answer in the ticket's topic: the customer gets an email in the same thread.
        thread = 500
        update = fake_tg.group_message(STAFF_CHAT, AGENT, "Курьер будет в 15:00", thread_id=thread)
        assert await fake_tg.deliver(update) == 200
        await app.drain()
        staff_reply = mailbox.to("anna@example.org")[-1]
        assert "Курьер будет в 15:00" in staff_reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert staff_reply["In-Reply-To"] == "<m1@mail.example.org>"
        assert "<m1@mail.example.org>" in str(staff_reply["References"])

        # Anna answers above the quoted history; it joins the ticket, staff see the new text.
        answer = _mail(
            "Анна <anna@example.org>",
            str(staff_reply["Subject"]),
            "Спасибо, жду.\n\nАнна\n\n"
            "On Tue, 24 Nov 2026 at 13:05, Shop support <support@shop.example> wrote:\n"
            "> Курьер будет в 15:00\n",
            "<m2@mail.example.org>",
            to=reply_address,
            in_reply_to=str(staff_reply["Message-ID"]),
        )
        assert (await _post(app, answer))[0] == 202
        await app.drain()
        assert len(await _tickets(database)) == 1
        relayed = _staff_texts(fake_tg)[-1]
        assert "Спасибо, жду." in relayed and "Курьер будет в 15:00" not in relayed
        assert len(mailbox.to("anna@example.org")) == 2  # a reply in a thread is not acknowledged

        # Someone else answering that thread gets a ticket of their own.
        stranger = _mail(
            "bob@example.org",
            str(staff_reply["Subject"]),
            "А мой заказ?",
            "<m3@mail.example.org>",
            to=reply_address,
            in_reply_to=str(staff_reply["Message-ID"]),
        )
        assert (await _post(app, stranger))[0] == 202
        await app.drain()
        tickets = await _tickets(database)
        assert len(tickets) == 2 and tickets[1][2] != anna

        # Robots never open tickets: an auto-reply, a list's mail; a bounce blocks the address.
        robots = [
            _mail(
                "anna@example.org", "Out of office", "Away", "<a1@x>", Auto_Submitted="auto-replied"
            ),
            _mail("news@list.example", "Digest", "News", "<a2@x>", Precedence="bulk"),
        ]
        bounce = (
            b"From: MAILER-DAEMON@mail.example.org\r\nTo: support@shop.example\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\n"
            b"Message-ID: <b1@mail.example.org>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
            b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mail.example.org\r\n\r\n"
            b"Final-Recipient: rfc822; anna@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            b"--B--\r\n"
        )
        for raw in (*robots, bounce):
            assert (await _post(app, raw))[0] == 202
        await app.drain()
        assert len(await _tickets(database)) == 2
        async with create_session_pool(database.engine)() as session:
            blocked = await session.execute(
                select(Customer.blocked_channels)
                .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
                .where(ChannelIdentity.external_id == "anna@example.org")
            )
            assert blocked.scalar_one() == "email"
            messages = await session.execute(
                select(func.count()).where(TicketMessage.ticket_id == ticket_id)
            )
            assert messages.scalar_one() == 3  # her mail, the staff reply, her answer


async def test_the_inbound_route_refuses_what_it_cannot_trust(
    start_app: AppFactory, database: Database
):
    with smtp_server() as mailbox:
        app = await _start(start_app, mailbox)
        raw = _mail("anna@example.org", "Hi", "Hello", "<x1@example.org>")
        assert (await _post(app, raw, secret="a different secret"))[0] == 401
        async with app.http.post(app.url + "/email/inbound", data=raw) as resp:
            assert resp.status == 401  # unsigned
        assert (await _post(app, b"this is not an email at all"))[0] == 400
        assert await _tickets(database) == []
