"""A few SMTP connections kept open and reused: one login per connection, not per email, so
the provider's rate is the limit, never the handshakes."""

from __future__ import annotations

import asyncio
import contextlib

import aiosmtplib

from bot.channels.email.config import MailServer


class SmtpPool:
    def __init__(self, server: MailServer, size: int, timeout: float) -> None:
        self._server = server
        self._timeout = timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._closed = False

    async def _connect(self) -> aiosmtplib.SMTP:
        server = self._server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.tls,
            start_tls=None if not server.tls else False,  # STARTTLS when the server offers it
            timeout=self._timeout,
        )
        await client.connect()
        if server.username:
            await client.login(server.username, server.password)
        return client

    async def send(self, sender: str, recipient: str, data: bytes) -> None:
        """Send one message; aiosmtplib's errors propagate (the sender classifies them). A
        kept connection the server has since closed is replaced once."""
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            reused = client is not None
            if client is None:
                client = await self._connect()
            try:
                await client.sendmail(sender, [recipient], data)
            except aiosmtplib.SMTPServerDisconnected:
                await _drop(client)
                if not reused:
                    raise
                client = await self._connect()
                try:
                    await client.sendmail(sender, [recipient], data)
                except BaseException:
                    await _drop(client)
                    raise
            except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException):
                # The server answered: the connection is fine for the next message (a
                # refused recipient leaves the transaction to be reset).
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.rset()
                    self._keep(client)
                    client = None
                if client is not None:
                    await _drop(client)
                raise
            except BaseException:
                await _drop(client)
                raise
            self._keep(client)

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if self._closed:
            asyncio.get_running_loop().create_task(_drop(client))
        else:
            self._idle.append(client)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            await _drop(client)


async def _drop(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        if client.is_connected:
            await client.quit()
    client.close()
