"""Open web chat sockets, and the outbox's sender that pushes replies to them."""

from __future__ import annotations

from typing import Any

from aiohttp.web import WebSocketResponse

from bot.channels.webchat.payloads import reply_to_json
from bot.core.messages import Reply
from bot.core.outbox import SendResult, SendStatus


class WebChatHub:
    """Open WebSockets by chat session: where staff replies are pushed live. A cache of
    connections only; the message itself is in the conversation log (see /history)."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocketResponse]] = {}

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
    """Outbox delivery for web chat customers: push to an open socket if there is one. Either
    way the reply is delivered: the widget reads what it missed from the history endpoint."""

    def __init__(self, hub: WebChatHub) -> None:
        self._hub = hub

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        await self._hub.push(recipient, {"type": "replies", "replies": [reply_to_json(reply)]})
        return SendResult(SendStatus.SENT)
