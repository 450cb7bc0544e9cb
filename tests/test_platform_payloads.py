"""Events in the shapes the platforms send, not the ones our fakes happen to build: each
payload below follows the example of the platform's own reference (Meta's "Webhook
notification payload examples" for the WhatsApp Cloud API; VK's Callback API event reference,
API version 5.199), with the ids changed. The bot answers what a customer said, ignores what is
not for it (a reaction, our own message echoed, "typing…"), and never fails on any of them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import TicketMessage
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_vk import FakeVk, VkCallbacks
from tests.fake_whatsapp import FakeWhatsApp, WhatsAppWebhook
from tests.test_vk_channel import GROUP, SECRET, _vk
from tests.test_whatsapp_channel import APP_SECRET, PHONE_ID, TOKEN, _wa

WA_USER = "16315551181"
VK_USER = 560100

# Meta's reference examples, the "messages" array item of each kind.
WHATSAPP = {
    "text": ({"type": "text", "text": {"body": "как вернуть товар"}}, "Как вернуть товар?"),
    "interactive button reply": (
        {
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": "hours", "title": "Часы работы"},
            },
        },
        "Сейчас",
    ),
    "interactive list reply": (
        {
            "type": "interactive",
            "interactive": {
                "type": "list_reply",
                "list_reply": {"id": "hours", "title": "Часы", "description": "когда открыто"},
            },
        },
        "Сейчас",
    ),
    "image with caption": (
        {
            "type": "image",
            "image": {
                "caption": "как вернуть товар",
                "mime_type": "image/jpeg",
                "sha256": "IMAGE_HASH",
                "id": "1479537139650973",
            },
        },
        "Как вернуть товар?",
    ),
    "reaction": (
        {"type": "reaction", "reaction": {"message_id": "wamid.OUR0001", "emoji": "👍"}},
        None,
    ),
    "location": (
        {
            "type": "location",
            "location": {
                "latitude": 55.751244,
                "longitude": 37.618423,
                "name": "Red Square",
                "address": "Moscow",
            },
        },
        None,
    ),
    "unsupported": (
        {
            "type": "unsupported",
            "errors": [
                {
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }
            ],
        },
        None,
    ),
}


@pytest.fixture
async def fake_wa() -> Any:
    fake = FakeWhatsApp(TOKEN, PHONE_ID)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def fake_vk() -> Any:
    from tests.test_vk_channel import TOKEN as VK_TOKEN

    fake = FakeVk(VK_TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def _settle(app: RunningApp) -> None:
    assert app.services.inbound is not None
    await asyncio.sleep(0.1)
    await app.services.inbound.drain()
    await asyncio.sleep(0.1)


@pytest.mark.parametrize("kind", list(WHATSAPP))
async def test_whatsapp_reference_messages(
    start_app: AppFactory, fake_wa: FakeWhatsApp, faq_loaded: Database, kind: str
):
    message, answer = WHATSAPP[kind]
    app = await start_app(telegram_mode=None, channels=_wa(fake_wa))
    hook = WhatsAppWebhook(f"{app.url}/whatsapp/webhook", APP_SECRET, PHONE_ID)
    assert await hook.post(hook.message(WA_USER, message)) == (200, "ok")
    await _settle(app)
    if answer is None:
        assert fake_wa.sent == [], kind  # not a question: nothing said back
    else:
        await fake_wa.wait_sent(1)
        assert answer in FakeWhatsApp.text_of(fake_wa.sent[0]), kind


def _vk_event(callbacks: VkCallbacks, kind: str) -> dict[str, Any]:
    if kind == "message_new with client_info":
        return callbacks.event(
            "message_new",
            {
                "message": {
                    "date": 1733300000,
                    "from_id": VK_USER,
                    "id": 0,
                    "out": 0,
                    "peer_id": VK_USER,
                    "text": "как вернуть товар",
                    "conversation_message_id": 7,
                    "fwd_messages": [],
                    "important": False,
                    "attachments": [],
                    "is_hidden": False,
                },
                "client_info": {
                    "button_actions": ["text", "vkpay", "open_app", "location", "open_link"],
                    "keyboard": True,
                    "inline_keyboard": True,
                    "carousel": False,
                    "lang_id": 0,
                },
            },
        )
    if kind == "message_new with a photo":
        photo = {
            "album_id": -3,
            "date": 1733300000,
            "id": 457239017,
            "owner_id": VK_USER,
            "sizes": [
                {"height": 75, "type": "s", "width": 56, "url": "https://sun9-1.example/s.jpg"},
                {"height": 1280, "type": "w", "width": 960, "url": "https://sun9-1.example/w.jpg"},
            ],
        }
        return callbacks.event(
            "message_new",
            {
                "message": {
                    "date": 1733300000,
                    "from_id": VK_USER,
                    "id": 0,
                    "peer_id": VK_USER,
                    "text": "",
                    "conversation_message_id": 8,
                    "attachments": [{"type": "photo", "photo": photo}],
                },
                "client_info": {"keyboard": True, "inline_keyboard": True, "lang_id": 0},
            },
        )
    if kind == "message_reply":  # our own message, echoed back to the community
        return callbacks.event(
            "message_reply",
            {
                "date": 1733300001,
                "from_id": -GROUP,
                "id": 101,
                "out": 1,
                "peer_id": VK_USER,
                "text": "Как вернуть товар?",
                "conversation_message_id": 9,
                "admin_author_id": 0,
            },
        )
    if kind == "typing_state":
        return callbacks.event(
            "message_typing_state", {"state": "typing", "from_id": VK_USER, "to_id": -GROUP}
        )
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("message_new with client_info", "Как вернуть товар?"),
        ("message_new with a photo", ""),  # any answer: there is no ticket to join
        ("message_reply", None),
        ("typing_state", None),
    ],
)
async def test_vk_reference_events(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database, kind: str, answer: str | None
):
    app = await start_app(telegram_mode=None, channels=_vk(fake_vk))
    callbacks = VkCallbacks(f"{app.url}/vk/callback", GROUP, SECRET)
    assert await callbacks.post(_vk_event(callbacks, kind)) == (200, "ok")
    await _settle(app)
    if answer is None:
        assert fake_vk.sent == [], kind
    else:
        await callbacks.wait_sent(fake_vk, 1)
        assert answer in fake_vk.sent[0]["message"], fake_vk.sent[0]["message"]


async def test_a_vk_photo_reaches_the_ticket_as_a_link(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database
):
    """The complaint prompt invites a photo: on VK it joins the ticket as a link to the
    biggest size (the file stays on VK's servers), never "I can only read text"."""
    app = await start_app(telegram_mode=None, channels=_vk(fake_vk))
    callbacks = VkCallbacks(f"{app.url}/vk/callback", GROUP, SECRET)
    await callbacks.post(callbacks.message(VK_USER, "/complaint"))
    await callbacks.wait_sent(fake_vk, 1)
    await callbacks.post(_vk_event(callbacks, "message_new with a photo"))
    await callbacks.wait_sent(fake_vk, 2)
    assert "понимаю только текст" not in fake_vk.sent[-1]["message"]
    async with app.services.session_pool() as session:
        texts = (await session.execute(select(TicketMessage.text))).scalars().all()
    assert "[photo] https://sun9-1.example/w.jpg" in texts, texts
