"""Open web chat sockets, and the outbox's sender that pushes replies to them."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp.web import WebSocketResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.webchat.payloads import reply_to_json
from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.messages import Reply
from storage.repositories.webchat import WebChatTranscript


class Relay(Protocol):
    async def announce(self, session: str, line: int) -> None: ...


def reply_frame(line: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "replies", "replies": [{**body, "id": line}]}


class WebChatHub:
    """Open WebSockets by chat session: where staff replies are pushed live. A cache of
    connections only; the message itself is in the conversation log (see /history)."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocketResponse]] = {}
        # Several instances: where a stored reply is announced so that the instance holding
        # the visitor's socket pushes it (bot/channels/webchat/relay.py); None: this one.
        self.relay: Relay | None = None

    def holds(self, session: str) -> bool:
        return session in self._sockets

    async def deliver(self, session: str, line: int, body: dict[str, Any]) -> None:
        """A stored transcript line to the visitor's open sockets, wherever they are open."""
        if self.relay is not None:
            await self.relay.announce(session, line)
        else:
            await self.push(session, reply_frame(line, body))

    def add(self, session: str, socket: WebSocketResponse) -> None:
        self._sockets.setdefault(session, set()).add(socket)

    def remove(self, session: str, socket: WebSocketResponse) -> None:
        sockets = self._sockets.get(session)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[session]

    async def push(self, session: str, frame: dict[str, Any]) -> int:
        pushed = 0
        for socket in list(self._sockets.get(session, ())):
            try:
                await socket.send_json(frame)
                pushed += 1
            except (ConnectionError, RuntimeError):
                self.remove(session, socket)
        return pushed


class WebChatSender:
    """Outbox and campaign delivery for web chat visitors: the message joins the visitor's
    transcript and is pushed to their open sockets. Either way it is held (SendStatus.HELD):
    it counts as shown, and a survey as sent, only when the page says it showed it (a `seen`
    frame, or POST /api/v1/chat/seen on the visitor's return). A socket that is closing still
    takes a push, so the push alone proves nothing."""

    def __init__(self, hub: WebChatHub, session_pool: async_sessionmaker[AsyncSession]) -> None:
        self._hub = hub
        self._pool = session_pool

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        body = reply_to_json(reply)
        async with self._pool() as session, session.begin():
            line = await WebChatTranscript(session).add(
                recipient, "out", body, ref=key, shown=False
            )
        await self._hub.deliver(recipient, line, body)
        return SendResult(SendStatus.HELD, external_id=str(line))
