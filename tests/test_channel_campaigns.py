"""A campaign over three channels: each customer asked once, on their channel, and each
channel held to its own rate limit (Telegram's token, the VK community, the WhatsApp number)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.app import launch_campaigns
from bot.campaigns import service
from storage.db import create_session_pool
from storage.models import WhatsAppContact
from storage.repositories.customers import CustomerRepository
from tests.conftest import AppFactory, Database
from tests.fake_telegram import Call, FakeTelegram
from tests.fake_vk import FakeVk
from tests.fake_whatsapp import FakeWhatsApp
from tests.rates import max_in_a_second

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # start_app's clock
# Sends a second the platform allows: Telegram's token cap (campaigns are set to 25 of it),
# VK's and WhatsApp's own limits (campaigns take four fifths). Checked where the sends arrive.
LIMITS = {"telegram": 30, "vk": 10, "whatsapp": 8}
CAMPAIGN_RATE = 25
COUNTS = {"telegram": 50, "vk": 30, "whatsapp": 24}


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeVk, FakeWhatsApp]]:
    vk, wa = FakeVk("vk-token"), FakeWhatsApp("wa-token", "555")
    await vk.start()
    await wa.start()
    try:
        yield vk, wa
    finally:
        await vk.close()
        await wa.close()


async def test_each_channel_is_held_to_its_own_rate(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    fakes: tuple[FakeVk, FakeWhatsApp],
    database: Database,
):
    vk, wa = fakes
    sent: dict[str, list[float]] = defaultdict(list)

    def on_telegram(call: Call) -> None:
        if call.method == "sendMessage":
            sent["telegram"].append(time.monotonic())

    fake_tg.listeners.append(on_telegram)
    vk.listeners.append(lambda params: sent["vk"].append(time.monotonic()))
    wa.listeners.append(lambda body: sent["whatsapp"].append(time.monotonic()))
    app = await start_app(
        scheduler={"enabled": False},
        campaigns={"rate_per_second": CAMPAIGN_RATE},
        channels={
            "vk": {
                "token": "vk-token",
                "group_id": 1,
                "confirmation": "c",
                "secret": "vk-secret-for-tests-1",
                "api_base": vk.base_url,
                "sends_per_second": LIMITS["vk"],
            },
            "whatsapp": {
                "token": "wa-token",
                "phone_number_id": "555",
                "app_secret": "wa-secret-for-tests-1",
                "verify_token": "verify-me",
                "api_base": wa.base_url,
                "sends_per_second": LIMITS["whatsapp"],
            },
        },
    )
    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        customers = CustomerRepository(session)
        for channel, count in COUNTS.items():
            for number in range(count):
                await customers.get_or_create(channel, str(700_000 + number), "c", "ru")
                if channel == "whatsapp":  # wrote recently: inside the 24-hour window
                    session.add(WhatsAppContact(wa_id=str(700_000 + number), last_inbound_at=NOW))
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(session, name="NPS", survey_name="nps", run_at=NOW)
    # When each channel's limiter granted its turns (its own decision, on its own clock).
    turns: dict[str, list[float]] = defaultdict(list)
    limiters = {c.name: c.limiter for c in app.services.channels if c.limiter is not None}
    limiters["telegram"] = app.services.limiter
    for name, limiter in limiters.items():
        limiter.on_grant = lambda chat, at, name=name: turns[name].append(at)
    assert await launch_campaigns(app.services) == sum(COUNTS.values())
    began = time.monotonic()
    await app.services.campaigns.run_until_idle()
    elapsed = time.monotonic() - began
    rates = {channel: len(times) / elapsed for channel, times in sent.items()}
    print(
        f"\nin {elapsed:.1f} s: "
        + ", ".join(f"{c} {len(t)} ({rates[c]:.1f}/s)" for c, t in sent.items())
    )
    for channel, count in COUNTS.items():
        assert len(sent[channel]) == count, channel  # each customer once, on their channel
        assert max_in_a_second(sent[channel]) <= LIMITS[channel], channel
    # Side by side, not one after another: every channel's turns began before any other
    # channel's ended (decided by the limiters, not timed here: a busy machine stretches it).
    spans = {name: (min(times), max(times)) for name, times in turns.items()}
    assert set(spans) == set(COUNTS)
    assert max(start for start, _ in spans.values()) < min(end for _, end in spans.values())
