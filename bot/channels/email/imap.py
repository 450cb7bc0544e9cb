"""The support mailbox read by IMAP (aioimaplib): IDLE where the server has it, else polled.

Each message is fetched by UID and stored in the inbound queue (its Message-ID the key) before
the cursor moves past it; the cursor (the folder's UIDVALIDITY and the last UID read) lives in
SQL. So a restart reads on from where the last process stopped, and a crash between the two
writes reads one message again, which the queue drops as a redelivery. A new UIDVALIDITY means
the server renumbered the folder: it is read again from the start, and the Message-IDs keep that
from making a single new ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import aioimaplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.email.config import EmailConfig
from bot.channels.email.inbound import Deliver, NotMail, parse
from bot.status import StatusBoard
from storage.db import DB_ERRORS
from storage.models import ImapCursor, utcnow

log = logging.getLogger(__name__)
PART = "email_imap"  # the StatusBoard part while the mailbox cannot be read
IDLE_SECONDS = 300  # RFC 2177: re-issue IDLE well within the server's 30-minute limit
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class ImapReader:
    def __init__(
        self,
        config: EmailConfig,
        pool: async_sessionmaker[AsyncSession],
        deliver: Deliver,
        status: StatusBoard,
    ) -> None:
        self._config = config
        self._server = config.imap_server()
        self._pool = pool
        self._deliver = deliver
        self._status = status
        self.mailbox = f"{self._server.username}@{self._server.host}/{config.imap_folder}"[:255]
        self.pushed = asyncio.Event()  # set while waiting in IDLE when the server says EXISTS

    async def run(self) -> None:
        """Read until cancelled; a lost connection is retried with back-off."""
        delay = 1.0
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, aioimaplib.Abort, aioimaplib.Error, *DB_ERRORS) as exc:
                self._status.failing(PART, f"cannot read the mailbox: {type(exc).__name__}")
                log.warning("IMAP: %s; again in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)

    async def _connect(self) -> aioimaplib.IMAP4:
        server = self._server
        kind = aioimaplib.IMAP4_SSL if server.tls else aioimaplib.IMAP4
        client = kind(host=server.host, port=server.port, timeout=self._config.timeout_seconds)
        await client.wait_hello_from_server()
        if not server.tls and client.has_capability("STARTTLS"):
            await client.starttls()
        response = await client.login(server.username, server.password)
        if response.result != "OK":
            raise aioimaplib.Error(f"login refused: {response.result}")
        return client

    async def _session(self) -> None:
        client = await self._connect()
        try:
            uidvalidity = await self._select(client)
            self._status.healthy(PART)
            while True:
                await self._read_new(client, uidvalidity)
                if client.has_capability("IDLE"):
                    await self._idle(client)
                else:
                    await asyncio.sleep(self._config.imap_poll_seconds)
        finally:
            with contextlib.suppress(OSError, TimeoutError, aioimaplib.Abort, aioimaplib.Error):
                await asyncio.wait_for(client.logout(), 5)

    async def read_once(self) -> int:
        """Connect, read what is new, leave; how many messages were stored (tests, the CLI)."""
        client = await self._connect()
        try:
            return await self._read_new(client, await self._select(client))
        finally:
            await asyncio.wait_for(client.logout(), 5)

    async def _select(self, client: aioimaplib.IMAP4) -> int:
        response = await client.select(self._config.imap_folder)
        if response.result != "OK":
            raise aioimaplib.Error(f"cannot open folder {self._config.imap_folder!r}")
        for line in response.lines:
            found = _UIDVALIDITY.search(bytes(line))
            if found:
                return int(found.group(1))
        raise aioimaplib.Error("the server gave no UIDVALIDITY")

    async def _read_new(self, client: aioimaplib.IMAP4, uidvalidity: int) -> int:
        last = await self._cursor(uidvalidity)
        response = await client.uid_search(f"UID {last + 1}:*")
        if response.result != "OK":
            raise aioimaplib.Error("UID SEARCH failed")
        uids = sorted(
            uid
            for line in response.lines[:-1]
            for uid in map(int, bytes(line).split())
            if uid > last
        )
        stored = 0
        for uid in uids:
            fetched = await client.uid("fetch", str(uid), "(RFC822)")
            raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
            if fetched.result == "OK" and raw is not None:
                try:
                    parsed = parse(raw)
                except NotMail as exc:
                    log.warning("IMAP: UID %s skipped: %s", uid, exc)
                else:
                    if await self._deliver(parsed) is not None:
                        stored += 1
            await self._advance(uidvalidity, uid)  # only once the message is stored
        return stored

    async def _idle(self, client: aioimaplib.IMAP4) -> None:
        """Wait for the server to say something changed (or IDLE_SECONDS)."""
        idle = await client.idle_start(timeout=IDLE_SECONDS)
        try:
            pushed = await client.wait_server_push(timeout=IDLE_SECONDS)
            if any(b"EXISTS" in bytes(line) for line in pushed if isinstance(line, bytes)):
                self.pushed.set()
        except TimeoutError:
            pass
        finally:
            client.idle_done()
            await asyncio.wait_for(idle, 10)

    async def _cursor(self, uidvalidity: int) -> int:
        async with self._pool() as session, session.begin():
            cursor = await session.get(ImapCursor, self.mailbox)
            if cursor is None:
                session.add(ImapCursor(mailbox=self.mailbox, uidvalidity=uidvalidity, last_uid=0))
                return 0
            if cursor.uidvalidity != uidvalidity:
                log.warning("IMAP: %s was renumbered (UIDVALIDITY): reading it again", self.mailbox)
                cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
            return cursor.last_uid

    async def _advance(self, uidvalidity: int, uid: int) -> None:
        async with self._pool() as session, session.begin():
            cursor = await session.get(ImapCursor, self.mailbox)
            if cursor is not None and cursor.uidvalidity == uidvalidity and cursor.last_uid < uid:
                cursor.last_uid, cursor.updated_at = uid, utcnow()
