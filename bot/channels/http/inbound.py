"""The inbound route: check the signature and its age, store the idempotency key, converse,
queue the replies (sent by the outbox to the platform's URL), answer 202."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.base import CoreServices
from bot.channels.http.payloads import BadMessage, message_from
from bot.channels.http.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, check
from bot.core import untrusted
from bot.core.outbox import ReplyBuffer
from bot.web.errors import json_error, json_response
from storage.db import short_statements
from storage.repositories.events import InboundEventRepository

if TYPE_CHECKING:
    from bot.channels.http import HttpChannel


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
        key, message = message_from(payload, channel.name, channel.max_message_chars)
    except (untrusted.BadJson, BadMessage) as exc:
        return json_error(400, str(exc))
    except UnicodeDecodeError:
        return json_error(400, "body is not UTF-8")
    metrics = core.metrics
    with short_statements():  # short indexed statements: on SQLite, on the loop
        async with core.session_pool() as session, session.begin():
            # Handled in this transaction: a retried request with the same id changes nothing.
            stored = await InboundEventRepository(session).store(
                f"http:{channel.name}", key, "{}", status="done"
            )
            if stored is None:
                metrics.updates_duplicate.labels(channel.name).inc()
                return json_response({"accepted": True, "duplicate": True})
            metrics.updates_received.labels(channel.name).inc()
            outcome = await core.conversation.handle(session, message)
            buffer = ReplyBuffer()
            buffer.extend(channel.name, message.external_id, outcome.replies)
            buffer.add_posts(list(outcome.posts))
            queued = await core.outbox.enqueue(session, buffer)
    metrics.updates_handled.labels(channel.name).inc()
    if queued:
        # Sent after the answer: the platform may be waiting on this request to serve ours.
        task = asyncio.create_task(core.outbox.deliver(queued))
        channel.deliveries.add(task)
        task.add_done_callback(channel.deliveries.discard)
    return json_response({"accepted": True, "duplicate": False}, status=202)
