"""The inbound route: check the signature and its age, then store the message in the batched
inbound queue (its idempotency key makes a retried request a no-op) and answer 202. The
replies are sent by the outbox to the platform's URL once handled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import CoreServices
from bot.channels.http.payloads import BadMessage, message_from
from bot.core import untrusted
from bot.core.conversation import Conversation
from bot.core.delivery.inbound_queue import MessageSource
from bot.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, check
from bot.core.messages import InboundMessage
from bot.web.errors import json_error, json_response

if TYPE_CHECKING:
    from bot.channels.http.channel import HttpChannel


def source(channel: HttpChannel, conversation: Conversation) -> MessageSource:
    async def prepare(session: AsyncSession, payload: dict[str, Any]) -> InboundMessage:
        return message_from(payload, channel.name, channel.max_message_chars)[1]

    def chat_of(payload: dict[str, Any]) -> str | None:
        """The platform's user: their messages are answered in order."""
        try:
            return message_from(payload, channel.name, channel.max_message_chars)[1].external_id
        except BadMessage:
            return None

    def text_of(payload: dict[str, Any]) -> str | None:
        try:
            return message_from(payload, channel.name, channel.max_message_chars)[1].text
        except BadMessage:
            return None

    return MessageSource(
        f"http:{channel.name}",
        channel.name,
        prepare,
        conversation,
        chat_of=chat_of,
        text_of=text_of,
    )


async def receive(channel: HttpChannel, core: CoreServices, request: web.Request) -> web.Response:
    body = await request.read()
    problem = check(
        channel.config.secret,
        request.headers.get(TIMESTAMP_HEADER, ""),
        request.headers.get(SIGNATURE_HEADER, ""),
        body,
        channel.clock(),
    )
    if problem is not None:
        return json_error(401, problem)
    try:
        payload = untrusted.loads(body.decode("utf-8"))
        key, _ = message_from(payload, channel.name, channel.max_message_chars)
    except (untrusted.BadJson, BadMessage) as exc:
        return json_error(400, str(exc))
    except UnicodeDecodeError:
        return json_error(400, "body is not UTF-8")
    if not await core.inbound.accept(f"http:{channel.name}", key, payload):
        return json_response({"accepted": True, "duplicate": True})
    return json_response({"accepted": True, "duplicate": False}, status=202)
