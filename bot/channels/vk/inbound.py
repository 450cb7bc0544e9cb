"""The Callback API route: VK posts every event here and wants the text "ok" back (anything
else and it retries). The secret in each event is checked; the confirmation request is answered
with the configured string; a user's message or button goes to the batched inbound queue, where
an event id seen before changes nothing."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import CoreServices
from bot.channels.vk import clients
from bot.channels.vk.clients import from_info
from bot.channels.vk.events import CHANNEL, parse, stray_press
from bot.core import untrusted
from bot.core.conversation import Conversation
from bot.core.delivery.inbound_queue import MessageSource
from bot.core.messages import InboundMessage

if TYPE_CHECKING:
    from bot.channels.vk.channel import VkChannel

log = logging.getLogger(__name__)
OK = "ok"


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def source(channel: VkChannel, conversation: Conversation) -> MessageSource:
    async def prepare(session: AsyncSession, event: dict[str, Any]) -> InboundMessage | None:
        parsed = parse(event)
        if parsed is None:
            return None
        obj = event.get("object")
        can = from_info(obj.get("client_info")) if isinstance(obj, dict) else None
        if can is not None:  # what their app can show, for the reply's keyboard
            await clients.saw(session, parsed.message.external_id, can)
        return parsed.message

    def after_commit(event: dict[str, Any]) -> None:
        parsed = parse(event)
        if parsed is not None and parsed.answer is not None:
            task = asyncio.create_task(answer_button(channel, parsed.answer))
            channel.background.add(task)
            task.add_done_callback(channel.background.discard)

    def chat_of(event: dict[str, Any]) -> str | None:
        """The VK user: their messages and presses are handled in order."""
        parsed = parse(event)
        return None if parsed is None else parsed.message.external_id

    def text_of(event: dict[str, Any]) -> str | None:
        parsed = parse(event)
        return None if parsed is None else parsed.message.text

    return MessageSource(CHANNEL, CHANNEL, prepare, conversation, after_commit, chat_of, text_of)


async def receive(channel: VkChannel, core: CoreServices, request: web.Request) -> web.Response:
    config = channel.config
    try:
        event = untrusted.loads((await request.read()).decode("utf-8"))
    except (untrusted.BadJson, UnicodeDecodeError) as exc:
        return _text(400, str(exc) if isinstance(exc, untrusted.BadJson) else "not UTF-8")
    if not isinstance(event, dict):
        return _text(400, "expected a JSON object")
    secret = event.pop("secret", None)  # checked here, never stored
    given = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else b""
    if not hmac.compare_digest(given, config.secret.encode()):
        return _text(403, "wrong secret")
    if event.get("group_id") != config.group_id:
        return _text(403, "wrong group_id")
    if event.get("type") == "confirmation":
        return _text(200, config.confirmation)
    event_id = event.get("event_id")
    if parse(event) is None:
        stray = stray_press(event)
        if stray is not None:
            task = asyncio.create_task(answer_button(channel, stray))
            channel.background.add(task)
            task.add_done_callback(channel.background.discard)
        return _text(200, OK)  # not ours to handle (other event types, group chats)
    if not isinstance(event_id, str) or not event_id:
        return _text(200, OK)
    await core.inbound.accept(CHANNEL, event_id[:128], event)
    return _text(200, OK)


async def answer_button(channel: VkChannel, answer: dict[str, str]) -> None:
    """Stop the spinner on the pressed button; a failure costs only the spinner."""
    result = await channel.api.call("messages.sendMessageEventAnswer", answer)
    if result.error:
        log.info("sendMessageEventAnswer failed: %s", result.error)
