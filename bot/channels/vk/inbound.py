"""The Callback API route: VK posts every event here and wants the text "ok" back (anything
else and it retries). The secret in each event is checked; the confirmation request is answered
with the configured string; an event id seen before changes nothing."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.base import CoreServices
from bot.channels.vk.events import CHANNEL, parse
from bot.core import untrusted
from bot.core.outbox import ReplyBuffer
from storage.db import short_statements
from storage.repositories.events import InboundEventRepository

if TYPE_CHECKING:
    from bot.channels.vk import VkChannel

log = logging.getLogger(__name__)
OK = "ok"


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


async def receive(channel: VkChannel, core: CoreServices, request: web.Request) -> web.Response:
    config = channel.config
    try:
        event = untrusted.loads((await request.read()).decode("utf-8"))
    except (untrusted.BadJson, UnicodeDecodeError) as exc:
        return _text(400, str(exc) if isinstance(exc, untrusted.BadJson) else "not UTF-8")
    if not isinstance(event, dict):
        return _text(400, "expected a JSON object")
    secret = event.get("secret")
    given = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else b""
    if not hmac.compare_digest(given, config.secret.encode()):
        return _text(403, "wrong secret")
    if event.get("group_id") != config.group_id:
        return _text(403, "wrong group_id")
    if event.get("type") == "confirmation":
        return _text(200, config.confirmation)
    parsed = parse(event)
    event_id = event.get("event_id")
    if parsed is None or not isinstance(event_id, str) or not event_id:
        return _text(200, OK)  # not ours to handle (other event types, group chats)
    metrics = core.metrics
    with short_statements():  # short indexed statements: on SQLite, on the loop
        async with core.session_pool() as session, session.begin():
            stored = await InboundEventRepository(session).store(
                CHANNEL, event_id[:128], "{}", status="done"
            )
            if stored is None:  # VK redelivered it
                metrics.updates_duplicate.labels(CHANNEL).inc()
                return _text(200, OK)
            metrics.updates_received.labels(CHANNEL).inc()
            outcome = await core.conversation.handle(session, parsed.message)
            buffer = ReplyBuffer()
            buffer.extend(CHANNEL, parsed.message.external_id, outcome.replies)
            buffer.add_posts(list(outcome.posts))
            queued = await core.outbox.enqueue(session, buffer)
    metrics.updates_handled.labels(CHANNEL).inc()
    channel.after_commit(core, queued, parsed.answer)
    return _text(200, OK)


async def answer_button(channel: VkChannel, answer: dict[str, str]) -> None:
    """Stop the spinner on the pressed button; a failure costs only the spinner."""
    result = await channel.api.call("messages.sendMessageEventAnswer", answer)
    if result.error:
        log.info("sendMessageEventAnswer failed: %s", result.error)


def track(channel: VkChannel, work: asyncio.Task[None]) -> None:
    channel.background.add(work)
    work.add_done_callback(channel.background.discard)
