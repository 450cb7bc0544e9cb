"""One JSON error shape for every endpoint, and the middleware that guarantees it."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.web.keys import SETTINGS
from storage.db import DB_ERRORS

log = logging.getLogger(__name__)


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with readable (unescaped) Cyrillic and emoji."""
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def json_error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


def client_gone(request: web.BaseRequest, error: BaseException) -> bool:
    """The error came from the client's connection closing, not from a server we talk to
    (both are OSErrors; the client's own socket tells them apart)."""
    transport = request.transport
    return isinstance(error, ConnectionResetError) and (transport is None or transport.is_closing())


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].http.max_body_bytes
        return json_error(413, f"body larger than {limit} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            response = json_error(exc.status, exc.reason)
            for name in ("Allow", "Retry-After", "WWW-Authenticate"):  # RFC 9110 wants them
                if name in exc.headers:
                    response.headers[name] = exc.headers[name]
            return response
        raise
    except DB_ERRORS as exc:
        if client_gone(request, exc):  # nobody to answer, and nothing wrong with the database
            log.debug("client left during %s %s", request.method, request.path)
            return json_error(400, "the connection closed")
        log.warning("database unavailable during %s %s", request.method, request.path)
        return json_error(503, "database unavailable, retry later")
    except Exception:
        log.exception("unhandled error during %s %s", request.method, request.path)
        return json_error(500, "internal error")
