"""The bad-input corpus: every public route and the webhook, fed what an attacker or a broken
client sends. Nothing may answer 5xx or log an error; a WebSocket keeps its connection.

New public routes (REST API, other channels) join by adding a `Route` to `ROUTES`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from examples.http_channel_receiver import sign
from storage.models import InboundEvent
from tests.conftest import WEBHOOK_SECRET, AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.fake_whatsapp import WhatsAppWebhook

SESSION = "corpus-session-01"
NINES = "9" * 40

# Button data that passes a naive `isdigit()` or overflows a database integer.
BAD_BUTTONS = [
    "faq:²",
    "faq:١٢",
    "fb:²:y",
    "handoff:²",
    "csat:²:5",
    "sv:²:1",
    "sv:1:²",
    f"fb:{NINES}:y",
    f"faq:{NINES}",
    f"handoff:{NINES}",
    f"csat:{NINES}:5",
    f"sv:{NINES}:1",
    "sv:1:99999999999999999999",
    "faq:99999999999",
    "fb:-1:y",
    ":",
    "::::",
    "menu:\x00",
]
# Texts a JSON client can send that no database column can hold as they are.
BAD_TEXTS = ["\ud800", "a\udfffb", "/\ud800", "\x00", "/" + "\ud83d"]
DEEP_JSON = "[" * 50_000 + "]" * 50_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


@dataclass
class Route:
    """A public POST route that takes a JSON body, how to build a valid-looking one, and the
    headers a genuine client would add for a given body (a signature)."""

    path: str
    body: Callable[[str | None, str | None], Any]  # (text, button) -> JSON payload
    headers: Callable[[bytes], dict[str, str]]
    buttons: bool = False  # a bad button still gets a 2xx answer here


def _chat_message(text: str | None, button: str | None) -> Any:
    return {"session": SESSION, "text": text if text is not None else "hi"}


def _chat_button(text: str | None, button: str | None) -> Any:
    return {"session": SESSION, "data": button if button is not None else "menu"}


_ids = itertools.count()
CHANNEL_SECRET = "corpus-channel-secret-0123"


def _channel_message(text: str | None, button: str | None) -> Any:
    payload: dict[str, Any] = {"id": f"corpus-{next(_ids)}", "user": "corpus-user"}
    if button is not None:
        payload["button"] = button
    else:
        payload["text"] = text if text is not None else "hi"
    return payload


VK_SECRET = "corpus-vk-secret-012345"
VK_GROUP = 42


def _vk_event(text: str | None, button: str | None) -> Any:
    number = next(_ids)
    if button is not None:
        kind = "message_event"
        obj: dict[str, Any] = {
            "user_id": 777,
            "peer_id": 777,
            "event_id": f"cb{number}",
            "payload": {"d": button},
        }
    else:
        kind = "message_new"
        message = {"id": number, "peer_id": 777, "from_id": 777, "text": text or "hi"}
        obj = {"message": message, "client_info": {"lang_id": 0}}
    return {
        "type": kind,
        "group_id": VK_GROUP,
        "event_id": f"corpus{number}",
        "object": obj,
        "secret": VK_SECRET,
    }


WA_SECRET = "corpus-whatsapp-secret-01"
_wa = WhatsAppWebhook("", WA_SECRET, "123")


def _wa_event(text: str | None, button: str | None) -> Any:
    if button is not None:
        return _wa.button("79990001122", button)
    return _wa.text("79990001122", text if text is not None else "hi")


def _wa_signature(body: bytes) -> dict[str, str]:
    digest = hmac.new(WA_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": "sha256=" + digest}


ROUTES = [
    Route("/api/v1/chat/messages", _chat_message, lambda body: {}),
    Route("/api/v1/chat/buttons", _chat_button, lambda body: {}, buttons=True),
    # The generic HTTP channel, signed as its platform would: what gets past the signature.
    Route(
        "/api/v1/channels/corpus/messages",
        _channel_message,
        lambda body: sign(CHANNEL_SECRET, body),
        buttons=True,
    ),
    # VK's Callback API, with the community's secret: what gets past it.
    Route("/vk/callback", _vk_event, lambda body: {}, buttons=True),
    # WhatsApp's webhook, signed with the app secret.
    Route("/whatsapp/webhook", _wa_event, _wa_signature, buttons=True),
]
CHANNELS = {
    "channels": {
        "http": {"corpus": {"outbound_url": "http://127.0.0.1:9/", "secret": CHANNEL_SECRET}},
        "vk": {
            "token": "corpus-vk-token",
            "group_id": VK_GROUP,
            "confirmation": "corpus",
            "secret": VK_SECRET,
            "api_base": "http://127.0.0.1:9/method",
        },
        "whatsapp": {
            "token": "corpus-wa-token",
            "phone_number_id": "123",
            "app_secret": WA_SECRET,
            "verify_token": "corpus-verify",
            "api_base": "http://127.0.0.1:9",
        },
    }
}
WEBHOOK = "/telegram/webhook"
HOOK_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
# The corpus is hundreds of requests from one address: the flood limits are another test's.
NO_LIMITS = {"webchat": {"burst": 1_000_000, "requests_per_minute": 1e9}}


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log() -> Any:
    handler = _ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


async def _post_raw(
    app: RunningApp,
    path: str,
    body: str | bytes,
    headers: dict[str, str] | Callable[[bytes], dict[str, str]] | None = None,
) -> tuple[int, Any]:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    signed = headers(data) if callable(headers) else (headers or {})
    all_headers = {"Content-Type": "application/json", **signed}
    async with app.http.post(app.url + path, data=data, headers=all_headers) as resp:
        text = await resp.text()
        return resp.status, text


def _dumps(payload: Any) -> str:
    # ensure_ascii writes a lone surrogate as the escape "\ud800", as a JSON client would.
    return json.dumps(payload, ensure_ascii=True)


def _describe(records: list[logging.LogRecord]) -> list[str]:
    return [f"{r.name}: {r.getMessage()[:200]}" for r in records]


async def test_http_routes_answer_bad_input_with_4xx_or_an_answer(
    start_app: AppFactory, faq_loaded: Database, error_log: list[logging.LogRecord]
):
    app = await start_app(**NO_LIMITS, **CHANNELS)
    failures: list[str] = []

    async def check(
        label: str,
        path: str,
        body: str | bytes,
        headers: dict[str, str] | Callable[[bytes], dict[str, str]],
    ) -> int:
        status, text = await _post_raw(app, path, body, headers)
        if status >= 500:
            failures.append(f"{label} on {path}: {status} {text[:100]}")
        return status

    for route in ROUTES:
        for button in BAD_BUTTONS:
            status = await check(
                f"button {button!r}", route.path, _dumps(route.body(None, button)), route.headers
            )
            if route.buttons and status not in (200, 202):
                failures.append(f"button {button!r} on {route.path}: {status}, expected 2xx")
        for text in BAD_TEXTS:
            await check(f"text {text!r}", route.path, _dumps(route.body(text, None)), route.headers)
        for label, body in [
            ("deep array", DEEP_JSON),
            ("deep object", DEEP_OBJECT),
            ("not JSON", "{"),
            ("empty body", ""),
            ("bytes not UTF-8", b"\xff\xfe{}"),
            ("a number", "1e999999"),
            ("NaN", "NaN"),
            ("a list", "[]"),
            ("null", "null"),
            ("huge integer id", _dumps({**route.body(None, None), "id": 10**200})),
            ("wrong types", _dumps({"session": ["x"], "text": {"a": 1}, "data": 5})),
        ]:
            status = await check(label, route.path, body, route.headers)
            if label.startswith("deep") and status != 400:
                failures.append(f"{label} on {route.path}: {status}, expected 400")

    for label, session, after in [
        ("after too big", SESSION, NINES),
        ("after non-ASCII digits", SESSION, "²"),
        ("after negative", SESSION, "-5"),
        ("no session", "", "1"),
        ("bad session", "ünï cödé", "1"),
    ]:
        status, _ = await app.chat_history(session, after)
        if status >= 500:
            failures.append(f"history {label}: {status}")
        elif label != "after negative" and status != 400:
            failures.append(f"history {label}: {status}, expected 400")

    for label, body in [("deep array", DEEP_JSON), ("deep object", DEEP_OBJECT)]:
        status = await check(f"webhook {label}", WEBHOOK, body, HOOK_HEADERS)
        if status != 400:
            failures.append(f"webhook {label}: {status}, expected 400")
    await app.drain()
    assert failures == []
    assert _describe(error_log) == []


async def test_webhook_secret_with_non_ascii_bytes_is_401(
    start_app: AppFactory, error_log: list[logging.LogRecord]
):
    app = await start_app()
    port = app.server.port
    body = b'{"update_id": 1}'
    for secret in ["ключ".encode(), b"\xff\xfe", WEBHOOK_SECRET.encode() + "é".encode()]:
        # Raw bytes on the wire: an HTTP client library would refuse to send such a header.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /telegram/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Telegram-Bot-Api-Secret-Token: " + secret + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        assert status_line.split()[1] == b"401", (secret, status_line)
    assert _describe(error_log) == []


async def test_telegram_updates_with_bad_data_are_answered_not_failed(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    faq_loaded: Database,
    error_log: list[logging.LogRecord],
):
    app = await start_app()
    chat = 4242
    updates = [fake_tg.callback_update(chat, data) for data in BAD_BUTTONS if len(data) <= 64]
    updates += [fake_tg.message_update(chat, text) for text in BAD_TEXTS]
    for update in updates:
        # The escape, not the raw surrogate: what a JSON encoder writes on the wire.
        status, _ = await _post_raw(app, WEBHOOK, _dumps(update), HOOK_HEADERS)
        assert status == 200
        await app.drain()
    async with faq_loaded.engine.connect() as conn:
        statuses = (await conn.execute(select(InboundEvent.status, InboundEvent.error))).all()
    assert {status for status, _ in statuses} == {"done"}, statuses
    # Every update got an answer: a menu for an unknown button, a reply for a text.
    assert len(fake_tg.sent_texts(chat)) >= len(updates)
    assert _describe(error_log) == []


async def test_websocket_bad_frames_get_error_frames_and_the_socket_stays(
    start_app: AppFactory, faq_loaded: Database, error_log: list[logging.LogRecord]
):
    app = await start_app(telegram_mode=None, **NO_LIMITS)
    frames: list[tuple[str, str]] = [
        (f"button {b!r}", _dumps({"type": "button", "data": b})) for b in BAD_BUTTONS
    ]
    frames += [(f"text {t!r}", _dumps({"type": "message", "text": t})) for t in BAD_TEXTS]
    frames += [
        ("deep array", DEEP_JSON),
        ("deep object", DEEP_OBJECT),
        ("not JSON", "{"),
        ("a list", "[1]"),
        ("unknown type", _dumps({"type": "nope"})),
        ("huge id", _dumps({"type": "message", "text": "hi", "id": 10**200})),
    ]
    async with app.chat_socket(SESSION) as socket:
        for label, frame in frames:
            await socket.send_str(frame)
            answer = await socket.receive(timeout=10)
            assert answer.type == aiohttp.WSMsgType.TEXT, (label, answer)
            kind = json.loads(answer.data)["type"]
            if label.startswith("button"):
                assert kind == "replies", (label, answer.data)
            else:
                assert kind in ("replies", "error"), (label, answer.data)
        await socket.send_str(_dumps({"type": "message", "text": "How much is shipping?"}))
        answer = await socket.receive(timeout=10)
        assert json.loads(answer.data)["type"] == "replies"
    assert _describe(error_log) == []


async def test_websocket_survives_a_failing_handler(
    start_app: AppFactory, faq_loaded: Database, monkeypatch: pytest.MonkeyPatch
):
    """A bug in handling (simulated here: the conversation raises once) answers an error frame
    on the same socket instead of writing an HTTP 500 into it."""
    app = await start_app(telegram_mode=None)
    conversation = app.services.conversation
    real_handle = conversation.handle
    failures = iter([True])

    async def handle_once_broken(*args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            raise RuntimeError("simulated bug")
        return await real_handle(*args, **kwargs)

    monkeypatch.setattr(conversation, "handle", handle_once_broken)
    async with app.chat_socket(SESSION) as socket:
        await socket.send_str(_dumps({"type": "message", "text": "hello"}))
        first = await socket.receive(timeout=10)
        assert first.type == aiohttp.WSMsgType.TEXT
        assert json.loads(first.data) == {"type": "error", "error": "internal error, retry"}
        await socket.send_str(_dumps({"type": "message", "text": "How much is shipping?"}))
        second = await socket.receive(timeout=10)
        assert json.loads(second.data)["type"] == "replies"


async def test_a_poisoned_update_fails_once_with_its_reason(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    faq_loaded: Database,
    monkeypatch: pytest.MonkeyPatch,
):
    """An update whose handler raises (simulated: a bug) is failed at the first attempt, with
    the exception's type and place but none of the customer's text, and recovery leaves it."""
    app = await start_app()
    conversation = app.services.conversation

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("secret customer text Анна")

    monkeypatch.setattr(conversation, "handle", broken)
    await fake_tg.deliver(fake_tg.message_update(999, "ломаю бота"))
    await app.drain()
    assert await app.services.inbound.recover() == 0
    async with faq_loaded.engine.connect() as conn:
        ((status, attempts, error),) = (
            await conn.execute(
                select(InboundEvent.status, InboundEvent.attempts, InboundEvent.error)
            )
        ).all()
    assert (status, attempts) == ("failed", 1)
    assert error.startswith("ValueError at ")
    assert "Анна" not in error and "secret" not in error
