"""The support mailbox read by IMAP from a real server (Debian's dovecot, started by the test):
each mail becomes a ticket once, a restart reads on from where the last process stopped, a
renumbered folder is read again without a single duplicate, and IDLE brings a new mail in
without waiting for a poll."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aioimaplib
from sqlalchemy import func, select, update

from bot.channels.email.channel import EmailChannel
from bot.channels.email.imap import ImapReader
from storage.db import create_session_pool
from storage.models import ImapCursor, Ticket, TicketMessage
from tests.conftest import SPAWN_WITHIN, AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.imap_server import ImapServer, dovecot
from tests.smtp_server import Mailbox, smtp_server
from tests.test_email_tickets import STAFF_CHAT, SUPPORT, _mail


async def _append(imap: ImapServer, raw: bytes) -> None:
    client = aioimaplib.IMAP4(host=imap.host, port=imap.port, timeout=10)
    await client.wait_hello_from_server()
    await client.login(imap.user, imap.password)
    assert (await client.append(raw, mailbox="INBOX")).result == "OK"
    await client.logout()


def _email(mailbox: Mailbox, imap: ImapServer) -> dict[str, Any]:
    return {
        "smtp_url": mailbox.url,
        "from_address": f"Shop support <{SUPPORT}>",
        "support_address": SUPPORT,
        "imap_url": imap.url,
        "imap_username": imap.user,
        "imap_password": imap.password,
        "imap_poll_seconds": 3600,  # IDLE or an explicit read: never a poll in these tests
    }


def _reader(app: RunningApp) -> ImapReader:
    (channel,) = [c for c in app.services.channels if isinstance(c, EmailChannel)]
    assert channel.reader is not None
    return channel.reader


async def _counts(database: Database) -> tuple[int, int]:
    async with create_session_pool(database.engine)() as session:
        tickets = await session.execute(select(func.count()).select_from(Ticket))
        messages = await session.execute(
            select(func.count()).where(TicketMessage.kind == "customer")
        )
        return tickets.scalar_one(), messages.scalar_one()


async def test_each_mail_is_read_once_across_restarts_and_renumbering(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    first = _mail(
        "Анна <anna@example.org>", "Не работает оплата", "Карта не проходит", "<i1@x.org>"
    )
    second = _mail(
        "anna@example.org", "Re: Не работает оплата", "Ещё раз пробовала", "<i2@x.org>",
        in_reply_to="<i1@x.org>",
    )  # fmt: skip
    with smtp_server() as mailbox, dovecot() as imap:
        await _append(imap, first)
        app = await start_app(
            telegram={"staff_chat_id": STAFF_CHAT},
            scheduler={"enabled": False},
            email=_email(mailbox, imap),
        )
        assert await _reader(app).read_once() == 1
        await app.drain()
        assert await _reader(app).read_once() == 0  # nothing new: nothing read twice
        assert await _counts(database) == (1, 1)
        await app.stop()

        await _append(imap, second)  # arrives while no process runs
        app = await start_app(
            telegram={"staff_chat_id": STAFF_CHAT},
            scheduler={"enabled": False},
            email=_email(mailbox, imap),
        )
        assert await _reader(app).read_once() == 1  # the cursor was kept in SQL
        await app.drain()
        assert await _counts(database) == (1, 2)  # the reply joined its thread's ticket

        # The server renumbers the folder (a new UIDVALIDITY): read again, nothing doubled.
        async with create_session_pool(database.engine)() as session, session.begin():
            await session.execute(update(ImapCursor).values(uidvalidity=1))
        assert await _reader(app).read_once() == 0  # both are redeliveries of stored mail
        await app.drain()
        assert await _counts(database) == (1, 2)


async def test_idle_brings_a_new_mail_in(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    with smtp_server() as mailbox, dovecot() as imap:
        await start_app(
            telegram={"staff_chat_id": STAFF_CHAT},
            scheduler={"enabled": True},  # the process that reads the mailbox
            email=_email(mailbox, imap),
        )
        await asyncio.sleep(0)  # the reader connects and waits in IDLE
        await _append(imap, _mail("oleg@example.org", "Возврат", "Хочу вернуть товар", "<j1@x>"))
        deadline = time.monotonic() + SPAWN_WITHIN
        while await _counts(database) != (1, 1):  # what the bot did, not how fast
            assert time.monotonic() < deadline, "the mail never became a ticket"
            await asyncio.sleep(0.1)
