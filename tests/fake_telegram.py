"""An in-repo fake of the Telegram Bot API, served by aiohttp on a real port.

It speaks the same wire format as api.telegram.org (aiogram posts multipart forms with JSON-encoded
nested values), records every call, keeps a getUpdates queue with offsets and long polling, can
deliver updates to a registered webhook with its secret header, and answers 429 or 403 on demand.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.rates import SlidingSecond

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Otklik", "username": "otklik_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    result: Any = None


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    chat_id: int | None = None
    times: int = 1


def _decode(value: str) -> Any:
    """aiogram sends nested objects as JSON strings inside the form; scalars as plain text."""
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeTelegram:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.blocked_chats: set[int] = set()
        self.delays: dict[str, float] = {}  # method -> seconds to sit on the request
        self.listeners: list[Callable[[Call], None]] = []  # e.g. a benchmark's stopwatch
        self.record_calls = True
        self.call_counts: collections.Counter[str] = collections.Counter()  # method -> calls
        self.members: dict[int, str] = {}  # user id -> getChatMember status in any group
        self.forum = True  # False: createForumTopic fails as in a group without topics
        # Groups the bot was removed from: every call naming them answers 403.
        self.kicked_chats: set[int] = set()
        # Forum topics someone deleted: posting into them answers 400 "thread not found".
        self.deleted_threads: set[int] = set()
        # An outage: every call answers this status with an HTML error page (a proxy's) or
        # Telegram's JSON error; None when the API is up.
        self.outage: tuple[int, str] | None = None
        # Spurious 429s on sends, as a busy Bot API gives them: (probability, retry_after).
        self.random_429: tuple[float, int] | None = None
        self._random = random.Random(429)
        self._thread_ids = itertools.count(500)
        # Enforce Telegram's bot-wide cap on sends (messages per rolling second), if set.
        self.sends_per_second = SlidingSecond()
        self.rate_limited = 0  # 429s answered because of it
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._updates_changed = asyncio.Event()
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._server: TestServer | None = None
        self._client: aiohttp.ClientSession | None = None
        self._call_event = asyncio.Event()

    # Lifecycle ------------------------------------------------------------------------------

    async def start(self, port: int | None = None) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/_fake/stats", self._stats)
        self._server = TestServer(app, host="127.0.0.1", port=port)
        await self._server.start_server()
        self._client = aiohttp.ClientSession()
        return self.base_url

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._server is not None:
            await self._server.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    # Test controls --------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
        description: str = "",
    ) -> None:
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            403: "Forbidden: bot was blocked by the user",
        }.get(status, "Bad Request")
        self.failures.append(Failure(method, status, text, retry_after, chat_id, times))

    def block(self, chat_id: int) -> None:
        self.blocked_chats.add(chat_id)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        return [
            str(c.params["text"])
            for c in self.calls_of("sendMessage")
            if chat_id is None or int(c.params["chat_id"]) == chat_id
        ]

    def survey_chats(self) -> list[int]:
        """The chats sent a survey question (its buttons carry `sv:`), once per send."""
        return [
            int(c.params["chat_id"])
            for c in self.calls_of("sendMessage")
            if "sv:" in str(c.params.get("reply_markup"))
        ]

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + within
        while len(self.calls_of(method)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                found = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} {method} calls, saw {found}")
            self._call_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._call_event.wait(), remaining)
        return self.calls_of(method)

    # Updates --------------------------------------------------------------------------------

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        update_id: int | None = None,
        first_name: str = "Анна",
        language_code: str | None = "ru",
        chat_type: str = "private",
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, "first_name": first_name},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": update_id or self.next_update_id(), "message": message}

    def group_message(
        self,
        chat_id: int,
        user_id: int,
        text: str = "",
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
        first_name: str = "Иван",
        photo: str | None = None,
    ) -> dict[str, Any]:
        """A message in the staff supergroup, in a forum topic or replying to a message."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "title": "Staff", "is_forum": self.forum},
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
        }
        if photo:
            message["photo"] = [
                {"file_id": photo, "file_unique_id": photo, "width": 1, "height": 1}
            ]
            if text:
                message["caption"] = text
        else:
            message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": int(time.time()),
                "chat": message["chat"],
                "from": BOT_USER,
                "text": "…",
            }
        return {"update_id": self.next_update_id(), "message": message}

    def photo_update(self, chat_id: int, file_id: str, caption: str = "") -> dict[str, Any]:
        update = self.message_update(chat_id, "")
        message = update["message"]
        del message["text"]
        message["photo"] = [
            {"file_id": file_id + "-small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": "l", "width": 800, "height": 800},
        ]
        if caption:
            message["caption"] = caption
        return update

    def callback_update(
        self,
        chat_id: int,
        data: str,
        *,
        update_id: int | None = None,
        first_name: str = "Анна",
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return {
            "update_id": update_id or self.next_update_id(),
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": user,
                "chat_instance": "ci-1",
                "data": data,
                "message": {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"},
                    "from": BOT_USER,
                    "text": "…",
                },
            },
        }

    def queue_update(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates."""
        self._updates.append(update)
        self._updates_changed.set()

    async def deliver(self, update: dict[str, Any], secret: str | None = None) -> int:
        """POST an update to the registered webhook the way Telegram does; returns the status."""
        assert self.webhook is not None, "no webhook registered"
        assert self._client is not None
        headers = {}
        token = self.webhook.get("secret_token") if secret is None else secret
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        async with self._client.post(self.webhook["url"], json=update, headers=headers) as resp:
            await resp.read()
            return resp.status

    # Bot API --------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
            return dict(data) if isinstance(data, dict) else {}
        form = await request.post()
        # Uploaded files are kept as bytes: the request (and its temporary file) ends here.
        return {k: _decode(v) if isinstance(v, str) else v.file.read() for k, v in form.items()}

    @property
    def rate_limit(self) -> float | None:
        return self.sends_per_second.limit

    @rate_limit.setter
    def rate_limit(self, limit: float | None) -> None:
        self.sends_per_second.limit = limit

    def _over_rate(self, method: str) -> bool:
        if not method.startswith("send") or not self.sends_per_second.over():
            return False
        self.rate_limited += 1
        return True

    def _injected_failure(self, method: str, params: dict[str, Any]) -> web.Response | None:
        if self.outage is not None:
            status, kind = self.outage
            if kind == "html":
                page = f"<html><body><h1>{status} Bad Gateway</h1>nginx</body></html>"
                return web.Response(status=status, text=page, content_type="text/html")
            return self._error(status, "Internal Server Error")
        group = params.get("chat_id")
        if group is not None and int(group) in self.kicked_chats:
            return self._error(403, "Forbidden: bot was kicked from the supergroup chat")
        thread = params.get("message_thread_id")
        if thread is not None and int(thread) in self.deleted_threads:
            return self._error(400, "Bad Request: message thread not found")
        if self._over_rate(method):
            return self._error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        if self.random_429 and method.startswith("send"):
            probability, retry_after = self.random_429
            if self._random.random() < probability:
                self.rate_limited += 1
                return self._error(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
        chat_id = params.get("chat_id")
        if method.startswith("send") and chat_id is not None and int(chat_id) in self.blocked_chats:
            return self._error(403, "Forbidden: bot was blocked by the user")
        for failure in self.failures:
            if failure.method != method or failure.times <= 0:
                continue
            if failure.chat_id is not None and (chat_id is None or int(chat_id) != failure.chat_id):
                continue
            failure.times -= 1
            extra = {"retry_after": failure.retry_after} if failure.retry_after else None
            return self._error(failure.status, failure.description, extra)
        return None

    @staticmethod
    def _error(
        status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params)
        self.call_counts[method] += 1
        if self.record_calls:
            self.calls.append(call)
        for listener in self.listeners:
            listener(call)
        self._call_event.set()
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        failure = self._injected_failure(method, params)
        if failure is not None:
            return failure
        handler = getattr(self, f"_api_{method}", None)
        result = await handler(params) if handler is not None else True
        call.result = result
        return web.json_response({"ok": True, "result": result})

    async def _stats(self, request: web.Request) -> web.Response:
        """What a benchmark running this fake in another process reads at the end."""
        return web.json_response({"calls": self.call_counts, "rate_limited": self.rate_limited})

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:
            # Telegram forgets every update below the confirmed offset.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0:
            self._updates_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updates_changed.wait(), min(timeout, 1.0))
        return list(self._updates[: int(params.get("limit") or 100)])

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        extra = {k: v for k, v in extra.items() if v is not None}
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": BOT_USER,
            **extra,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
        return message

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._message(params, text=str(params["text"]))

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        return self._message(params, text=str(params["text"]))

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        photo = [{"file_id": str(params["photo"]), "file_unique_id": "u", "width": 1, "height": 1}]
        return self._message(params, photo=photo, caption=params.get("caption"))

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        document = {"file_id": str(params["document"]), "file_unique_id": "u"}
        return self._message(params, document=document, caption=params.get("caption"))

    async def _api_createForumTopic(self, params: dict[str, Any]) -> Any:
        if not self.forum:
            raise web.HTTPBadRequest(
                text=json.dumps(
                    {
                        "ok": False,
                        "error_code": 400,
                        "description": "Bad Request: the chat is not a forum",
                    }
                ),
                content_type="application/json",
            )
        return {
            "message_thread_id": next(self._thread_ids),
            "name": params["name"],
            "icon_color": 0,
        }

    async def _api_getChatMember(self, params: dict[str, Any]) -> Any:
        user_id = int(params["user_id"])
        status = self.members.get(user_id, "left")
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": user_id, "is_bot": False, "first_name": "U"},
        }
        if status == "creator":
            member["is_anonymous"] = False
        return member


async def _serve(port: int, rate_limit: float | None) -> None:
    fake = FakeTelegram()
    fake.record_calls = False
    fake.rate_limit = rate_limit
    await fake.start(port)
    print(fake.base_url, flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """`python -m tests.fake_telegram --port P [--rate-limit N]`: the fake in a process of its
    own, so a benchmark's client does not share a core with it. Counts at /_fake/stats."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate-limit", type=float, help="sends per rolling second, then 429")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.rate_limit))


if __name__ == "__main__":
    main()
