"""Email to support as tickets, against a real SMTP server: a mail opens a ticket, staff answer
from the Telegram staff group and the customer gets a threaded email, the customer's answer
(quoted history below it) joins the same ticket and staff see only the new text; another
sender's reply to that thread, auto-replies and bounces never join it or loop."""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage

from sqlalchemy import func, select

from bot.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from storage.db import create_session_pool
from storage.models import ChannelIdentity, Customer, FileBlob, Ticket, TicketMessage
from tests.api_client import make_token
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.smtp_server import Mailbox, smtp_server
from tests.staff import add_staff, browser_session, sign_in_agent

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


def _with_files(raw: bytes, *files: tuple[str, str, bytes]) -> bytes:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    for name, content_type, data in files:
        main, sub = content_type.split("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return message.as_bytes()


async def test_attachments_are_kept_within_their_limit_and_given_to_staff_as_downloads(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    receipt = b"%PDF-1.4 receipt of order 1187 " * 20  # 640 bytes
    trap = b"<script>alert(document.cookie)</script>"
    video = b"\x00" * 3000  # over the 2 KB limit below
    with smtp_server() as mailbox:
        app = await start_app(
            telegram={"staff_chat_id": STAFF_CHAT},
            scheduler={"enabled": False},
            email={
                "smtp_url": mailbox.url,
                "from_address": SUPPORT,
                "support_address": SUPPORT,
                "inbound_secret": SECRET,
                "attachment_max_kb": 2,
                "inbound_max_kb": 8,
            },
        )
        raw = _with_files(
            _mail("anna@example.org", "Broken parcel", "Photos attached.", "<f1@example.org>"),
            ("чек 1187.pdf", "application/pdf", receipt),
            ("page.html", "text/html", trap),
            ("unboxing.mp4", "video/mp4", video),
        )
        assert (await _post(app, raw))[0] == 202
        assert (await _post(app, raw))[1]["duplicate"] is True  # a redelivery stores nothing
        await app.drain()
        # Staff in the group see every file named, and which one was too large to keep.
        (card,) = [t for t in _staff_texts(fake_tg) if "Photos attached." in t]
        assert "чек 1187.pdf (1 KB)" in card and "unboxing.mp4 (3 KB, not kept: too large)" in card

        async with create_session_pool(database.engine)() as session:
            blobs = (await session.execute(select(func.count()).select_from(FileBlob))).scalar()
            assert blobs == 2  # the receipt and the page, once each; never the video

        token = await make_token(database, "agent-1", "agent")
        headers = {"Authorization": f"Bearer {token}"}
        async with app.http.get(app.url + "/api/v1/tickets/1", headers=headers) as resp:
            detail = await resp.json()
        files = [f for m in detail["messages"] for f in m["files"]]
        assert [(f["name"], f["size"]) for f in files] == [
            ("чек 1187.pdf", len(receipt)),
            ("page.html", len(trap)),
        ]
        async with app.http.get(
            app.url + files[0]["url"], params={"format": "raw"}, headers=headers
        ) as resp:
            assert resp.status == 200 and await resp.read() == receipt
            assert (
                "filename*=UTF-8''%D1%87%D0%B5%D0%BA%201187.pdf"
                in resp.headers["Content-Disposition"]
            )
        async with app.http.get(app.url + "/api/v1/files/999", headers=headers) as resp:
            assert resp.status == 404
        async with app.http.get(app.url + files[1]["url"], params={"format": "raw"}) as resp:
            assert resp.status == 401  # no token, no file

        # In the web inbox: a download link; an HTML file is bytes, never a page of ours.
        await add_staff(database, "anna", "agent")
        async with browser_session() as http:
            await sign_in_agent(http, app.url, "anna")
            async with http.get(app.url + "/inbox/tickets/1") as resp:
                page = await resp.text()
            assert f'href="/inbox/files/{files[1]["id"]}"' in page and "📎 page.html" in page
            async with http.get(app.url + f"/inbox/files/{files[1]['id']}") as resp:
                assert await resp.read() == trap
                assert resp.headers["Content-Type"] == "application/octet-stream"
                assert resp.headers["Content-Disposition"].startswith("attachment;")
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
            async with http.get(app.url + "/inbox/files/999") as resp:
                assert resp.status == 404

        # The route's own limit: a message above inbound_max_kb is refused whole.
        big = _with_files(
            _mail("anna@example.org", "More", "More photos.", "<f2@example.org>"),
            ("raw.bin", "application/octet-stream", b"\x01" * 9000),
        )
        status, body = await _post(app, big)
        assert status == 413 and "8 KB" in str(body["error"])
