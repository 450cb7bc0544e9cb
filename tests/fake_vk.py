"""An in-repo fake of VK's API for a community bot: `messages.send` (with VK's random_id rule:
a repeated random_id to the same peer is not sent again) and `messages.sendMessageEventAnswer`,
answering VK's real error shape `{"error": {"error_code", "error_msg", "request_params"}}`;
and a client that posts Callback API events to the bot the way VK does."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fake_server import FakeServer
from tests.rates import SlidingSecond

ERRORS = {
    5: "User authorization failed: invalid access_token",
    6: "Too many requests per second",
    9: "Flood control",
    10: "Internal server error",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    911: "Keyboard format is invalid",
}


def keyboard_is_valid(raw: str | None) -> bool:
    """VK's documented keyboard limits: inline at most 10 buttons in 6 rows, the other kind at
    most 40 in 10 rows, at most 5 buttons a row, labels of at most 40 characters."""
    if raw is None:
        return True
    board = json.loads(raw)
    rows = board.get("buttons", [])
    inline = bool(board.get("inline"))
    count = sum(len(row) for row in rows)
    return (
        len(rows) <= (6 if inline else 10)
        and count <= (10 if inline else 40)
        and all(len(row) <= 5 for row in rows)
        and all(len(b["action"].get("label", "")) <= 40 for row in rows for b in row)
    )


@dataclass
class VkCall:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeVk(FakeServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.calls: list[VkCall] = []
        self.sent: list[dict[str, Any]] = []  # messages shown to users, in order
        self.failures: list[tuple[str, int, int | None]] = []  # (method, code, peer or None)
        # The next messages.send is shown to the user but its answer is lost (a 502 on the
        # way back): the bot must retry with the same random_id, and VK shows it once.
        self.lose_next_answer = False
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # a benchmark's stopwatch
        self.record = True  # keep memory flat over long runs
        self._seen: dict[tuple[int, int], int] = {}  # (peer, random_id) -> message id
        self._ids = itertools.count(100)
        # VK's per-community limit on messages.send (20 a second for a community token);
        # past it, error 6 "Too many requests per second".
        self.rate = SlidingSecond()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/method"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/method/{method}", self._handle)

    def fail_next(self, method: str, code: int, peer: int | None = None) -> None:
        self.failures.append((method, code, peer))

    def texts(self, peer: int) -> list[str]:
        return [m["message"] for m in self.sent if int(m["peer_id"]) == peer]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = dict(await request.post())
        if self.record:
            self.calls.append(VkCall(method, params))
        if params.get("access_token") != self.token:
            return self._error(5, params)
        for index, (name, code, peer) in enumerate(self.failures):
            if name == method and (peer is None or str(peer) == params.get("peer_id")):
                del self.failures[index]
                return self._error(code, params)
        if method == "messages.send":
            if self.rate.over():
                return self._error(6, params)
            if not keyboard_is_valid(params.get("keyboard")):
                return self._error(911, params)
            key = (int(params["peer_id"]), int(params["random_id"]))
            if key not in self._seen:  # VK's rule: a random_id seen before sends nothing
                self._seen[key] = next(self._ids)
                if self.record:
                    self.sent.append(params)
                for listener in self.listeners:
                    listener(params)
            if self.lose_next_answer:
                self.lose_next_answer = False
                return web.Response(status=502, text="<html>Bad Gateway</html>")
            return web.json_response({"response": self._seen[key]})
        if method == "messages.sendMessageEventAnswer":
            return web.json_response({"response": 1})
        return self._error(3, params)

    def _error(self, code: int, params: dict[str, Any]) -> web.Response:
        shown = [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
        body = {
            "error": {
                "error_code": code,
                "error_msg": ERRORS.get(code, "Unknown method passed"),
                "request_params": shown,
            }
        }
        return web.json_response(body)  # VK answers errors with HTTP 200


class VkCallbacks:
    """Posts Callback API events to the bot as VK does."""

    def __init__(self, url: str, group_id: int, secret: str) -> None:
        self.url = url
        self.group_id = group_id
        self.secret = secret
        self._events = itertools.count(1)

    async def post(self, event: dict[str, Any]) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.post(self.url, json=event) as resp:
            return resp.status, await resp.text()

    def event(self, kind: str, obj: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "type": kind,
            "event_id": f"ev{next(self._events):08x}",
            "v": "5.199",
            "object": obj,
            "secret": self.secret if secret is None else secret,
        }

    def message(self, user: int, text: str, payload: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": next(self._events),
            "date": int(time.time()),
            "peer_id": user,
            "from_id": user,
            "text": text,
            "conversation_message_id": next(self._events),
        }
        if payload is not None:
            message["payload"] = payload
        client = {"keyboard": True, "inline_keyboard": True, "lang_id": 0}
        return self.event("message_new", {"message": message, "client_info": client})

    def press(self, user: int, data: str) -> dict[str, Any]:
        return self.event(
            "message_event",
            {
                "user_id": user,
                "peer_id": user,
                "event_id": f"cb{next(self._events)}",
                "payload": json.loads(json.dumps({"d": data})),
                "conversation_message_id": next(self._events),
            },
        )

    async def wait_sent(self, fake: FakeVk, count: int, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while len(fake.sent) < count:
            assert time.monotonic() < deadline, [m["message"] for m in fake.sent]
            await asyncio.sleep(0.02)
