"""The Telegram webhook: check, store, acknowledge. Handling happens after the 200."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.core import untrusted
from bot.web.errors import json_error, json_response
from bot.web.keys import SETTINGS, TELEGRAM_INBOX

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _same_secret(given: str, secret: str) -> bool:
    """Compared as bytes: `compare_digest` raises on non-ASCII str, and a header can hold any
    byte (aiohttp keeps undecodable ones as surrogates)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


async def telegram_webhook(request: web.Request) -> web.Response:
    secret = request.app[SETTINGS].telegram.webhook_secret
    if secret and not _same_secret(request.headers.get(SECRET_HEADER, ""), secret):
        return json_error(401, "wrong secret token")
    body = await request.read()
    try:
        text = body.decode("utf-8")
        payload = untrusted.loads(text)
    except untrusted.BadJson as exc:
        return json_error(400, str(exc))
    except UnicodeDecodeError:
        return json_error(400, "body is not UTF-8")
    if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
        return json_error(400, "expected an Update object with an integer update_id")
    inbox = request.app[TELEGRAM_INBOX]
    if inbox.backlog >= request.app[SETTINGS].telegram.max_backlog:
        # Back-pressure: nothing stored, so Telegram keeps the update and sends it again.
        response = json_error(503, "busy: too many updates waiting, retry later")
        response.headers["Retry-After"] = "1"
        return response
    event_id = await inbox.accept(payload, text)
    if event_id is not None:
        inbox.schedule(event_id, payload)
    return json_response({"ok": True})
