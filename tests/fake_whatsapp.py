"""An in-repo fake of the WhatsApp Cloud API's messages endpoint, answering Meta's real error
shape (`{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}`), and a client that
posts signed webhook events to the bot as Meta does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.fake_server import FakeServer
from tests.rates import SlidingSecond

TITLES = {
    130429: "Rate limit hit",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131009: "Parameter value is not valid",
    132000: "Number of parameters does not match the expected number of params",
    190: "Access token has expired",
    100: "Invalid parameter",
}


def refusal(body: dict[str, Any]) -> int | None:
    """Meta's documented limits on what we send: reply buttons at most 3 with distinct titles
    of at most 20 characters, list rows at most 10 with distinct ids and titles of at most 24
    characters and descriptions of at most 72 (131009, "Parameter value is not valid"); a
    template parameter without newlines or tabs and never more than four spaces in a row
    (132000)."""
    if body.get("type") == "interactive":
        interactive = body["interactive"]
        if interactive["type"] == "button":
            titles = [b["reply"]["title"] for b in interactive["action"]["buttons"]]
            if len(titles) > 3 or len(set(titles)) < len(titles) or max(map(len, titles)) > 20:
                return 131009
        if interactive["type"] == "list":
            rows = [r for s in interactive["action"]["sections"] for r in s["rows"]]
            titles = [r["title"] for r in rows]
            if (
                len(rows) > 10
                or len({r["id"] for r in rows}) < len(rows)
                or len(set(titles)) < len(titles)
                or any(len(t) > 24 for t in titles)
                or any(len(r.get("description", "")) > 72 for r in rows)
            ):
                return 131009
    if body.get("type") == "template":
        for component in body["template"].get("components", []):
            for parameter in component.get("parameters", []):
                text = parameter.get("text", "")
                if "\n" in text or "\t" in text or "     " in text:
                    return 132000
    return None


class FakeWhatsApp(FakeServer):
    def __init__(self, token: str, phone_number_id: str) -> None:
        super().__init__()
        self.token = token
        self.phone_number_id = phone_number_id
        self.sent: list[dict[str, Any]] = []
        self.failures: list[int] = []  # error codes for the next sends
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # a benchmark's stopwatch
        self.record = True
        self._ids = itertools.count(1)
        # The number's throughput (80 messages a second by default); past it, 130429.
        self.rate = SlidingSecond()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/{phone}/messages", self._messages)

    def to(self, wa_id: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["to"] == wa_id]

    @staticmethod
    def text_of(message: dict[str, Any]) -> str:
        if message["type"] == "text":
            return str(message["text"]["body"])
        if message["type"] == "interactive":
            return str(message["interactive"]["body"]["text"])
        return str(message["template"]["components"][0]["parameters"][0]["text"])

    async def _messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(190, 401)
        if request.match_info["phone"] != self.phone_number_id:
            return self._error(100, 400)
        body = await request.json()
        if body.get("messaging_product") != "whatsapp" or "to" not in body:
            return self._error(100, 400)
        if self.failures:
            code = self.failures.pop(0)
            return self._error(code, 429 if code == 130429 else 400)
        refused = refusal(body)
        if refused is not None:
            return self._error(refused, 400)
        if self.rate.over():
            return self._error(130429, 429)
        if self.record:
            self.sent.append(body)
        for listener in self.listeners:
            listener(body)
        wamid = f"wamid.FAKE{next(self._ids):06d}"
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }
        )

    def _error(self, code: int, status: int) -> web.Response:
        title = TITLES.get(code, "Unknown error")
        error = {
            "message": f"(#{code}) {title}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": title},
            "fbtrace_id": "AbCdEfGh123",
        }
        return web.json_response({"error": error}, status=status)

    async def wait_sent(self, count: int, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while len(self.sent) < count:
            assert time.monotonic() < deadline, self.sent
            await asyncio.sleep(0.02)


class WhatsAppWebhook:
    """Posts webhook events to the bot, signed with the app secret, as Meta does."""

    def __init__(self, url: str, app_secret: str, phone_number_id: str) -> None:
        self.url = url
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self._ids = itertools.count(1)

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        metadata = {"display_phone_number": "79990000000", "phone_number_id": self.phone_number_id}
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1029384756",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": metadata,
                                **value,
                            },
                        }
                    ],
                }
            ],
        }

    def message(self, wa_id: str, body: dict[str, Any], name: str = "Анна") -> dict[str, Any]:
        message = {
            "from": wa_id,
            "id": f"wamid.IN{next(self._ids):06d}",
            "timestamp": str(int(time.time())),
            **body,
        }
        contacts = [{"profile": {"name": name}, "wa_id": wa_id}]
        return self._envelope({"contacts": contacts, "messages": [message]})

    def text(self, wa_id: str, text: str) -> dict[str, Any]:
        return self.message(wa_id, {"type": "text", "text": {"body": text}})

    def button(self, wa_id: str, data: str, title: str = "") -> dict[str, Any]:
        reply = {"type": "button_reply", "button_reply": {"id": data, "title": title}}
        return self.message(wa_id, {"type": "interactive", "interactive": reply})

    def status(
        self, wamid: str, status: str, wa_id: str, error: int | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": wa_id,
        }
        if error is not None:
            item["errors"] = [{"code": error, "title": TITLES.get(error, "error")}]
        return self._envelope({"statuses": [item]})

    async def post(self, event: dict[str, Any], *, secret: str | None = None) -> tuple[int, str]:
        body = json.dumps(event, ensure_ascii=False).encode()
        key = (secret if secret is not None else self.app_secret).encode()
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, data=body, headers=headers) as resp,
        ):
            return resp.status, await resp.text()
