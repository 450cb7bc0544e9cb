"""How long a client may take: a request's body arrives within `[http] body_seconds`, and a
connection with no request under way closes after `[http] idle_seconds` (the server's
keep-alive timeout, which also runs from the moment a connection opens, so one that never
sends a request, or stops half-way through its headers, is closed too).

A client that leaves while sending is its own business, not the database's: before this, a
closed connection surfaced as an OSError in the handler and was logged as "database
unavailable"."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.config import HttpConfig
from bot.web.errors import json_error
from bot.web.keys import SETTINGS

log = logging.getLogger(__name__)


# After answering a request whose body was not read to its end (408, 413), aiohttp goes on
# reading and dropping what the client still sends, so the client sees the answer instead of
# a reset; 10 s by default, which a slow client turns into ten more seconds held.
LINGER_SECONDS = 2.0


def runner_options(http: HttpConfig) -> dict[str, Any]:
    """What the aiohttp runner (or a test server) needs to bound idle and slow connections."""
    return {"keepalive_timeout": http.idle_seconds, "lingering_time": LINGER_SECONDS}


_MAX_BODY = "otklik_max_body"


def with_body_limit(handler: Handler, max_bytes: int) -> Handler:
    """Mark a route's handler as taking bodies up to `max_bytes` instead of `[http]
    max_body_bytes` (raw email with its attachments)."""
    setattr(handler, _MAX_BODY, max_bytes)
    return handler


@web.middleware
async def body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the whole body before the handler runs (it is kept: `read()`, `json()` and
    `post()` use it), so no handler waits on a slow client, and a slow one gets 408; one
    above its limit gets 413 as JSON."""
    if request.body_exists:
        if request.content_type.startswith("multipart/"):
            return json_error(415, "multipart bodies are not accepted; send JSON or a form")
        limit = getattr(request.match_info.handler, _MAX_BODY, None)
        if limit is not None:
            request = request.clone(client_max_size=limit)
        seconds = request.app[SETTINGS].http.body_seconds
        try:
            async with asyncio.timeout(seconds):
                await request.read()
        except web.HTTPRequestEntityTooLarge:
            size = request.client_max_size
            return json_error(
                413, f"a request body may be at most {size} bytes ({size // 1024} KB)"
            )
        except TimeoutError:
            response = json_error(408, f"the request body did not arrive within {seconds:g} s")
            response.force_close()
            return response
        except ConnectionResetError:
            log.debug("client left while sending %s %s", request.method, request.path)
            response = json_error(400, "the connection closed before the body arrived")
            response.force_close()
            return response
    return await handler(request)
