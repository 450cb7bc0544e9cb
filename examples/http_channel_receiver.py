"""A platform's side of Otklik's generic HTTP channel, as small as it can be (aiohttp only).

Otklik POSTs each reply to your URL as JSON:

    {"user": "<your user id>", "text": "...", "title": "<or null>",
     "buttons": [[{"text": "👍 Yes", "data": "fb:12:y"}, ...], ...]}

with `X-Otklik-Timestamp: <unix seconds>` and
`X-Otklik-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
Answer 2xx when you have it; 410 if the user no longer exists (Otklik stops writing to them);
429 or 5xx to have it retried later with back-off; any other 4xx drops it.

You send what your users write to `POST /api/v1/channels/<name>/messages`, signed the same way:

    {"id": "<unique per message: a retry with the same id is ignored>",
     "user": "<your user id>", "text": "..."}          (or "button": "<data>" for a press)
    optional: "name": "Anna", "language": "ru"

Otklik answers 202 (accepted), 200 with "duplicate": true for a repeated id, 400 naming the
bad field, 401 for a missing or wrong signature or a timestamp more than 5 minutes away.

Run: OTKLIK_SECRET=... python examples/http_channel_receiver.py  (listens on :9090/otklik)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any

from aiohttp import web

TOLERANCE = 300


def sign(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Headers for a request to Otklik."""
    timestamp = str(int(time.time() if now is None else now))
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {"X-Otklik-Timestamp": timestamp, "X-Otklik-Signature": "v1=" + mac.hexdigest()}


def verify(secret: str, headers: Any, body: bytes) -> bool:
    """Is this request from Otklik, and fresh?"""
    timestamp = headers.get("X-Otklik-Timestamp", "")
    given = headers.get("X-Otklik-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    expected = sign(secret, body, int(timestamp))["X-Otklik-Signature"]
    return hmac.compare_digest(expected, given)


class Receiver:
    """Keeps what Otklik sent; `answers` can queue statuses to answer next (500, 410, ...)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self.answers: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, request.headers, body):
            self.refused += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if self.answers:
            return web.json_response({"error": "as asked"}, status=self.answers.pop(0))
        self.received.append(json.loads(body))
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/otklik", self.handle)
        return app


def main() -> None:
    receiver = Receiver(os.environ["OTKLIK_SECRET"])

    async def show(request: web.Request) -> web.Response:
        response = await receiver.handle(request)
        if receiver.received:
            message = receiver.received[-1]
            print(f"to {message['user']}: {message['text']}")
        return response

    app = web.Application()
    app.router.add_post("/otklik", show)
    web.run_app(app, port=9090)


if __name__ == "__main__":
    main()
