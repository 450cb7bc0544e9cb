"""The Telegram webhook: its route (check, store, acknowledge; handling happens after the 200)
and its registration with Telegram, retried in the background while Telegram is away."""

from __future__ import annotations

import asyncio
import hmac
import logging

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiohttp import web

from bot.channels.telegram.config import TelegramConfig
from bot.channels.telegram.sender import CHANNEL
from bot.channels.telegram.updates import HANDLED_KINDS
from bot.core import untrusted
from bot.core.delivery.inbound_queue import InboundQueue
from bot.status import StatusBoard
from bot.web.errors import json_error, json_response

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = list(HANDLED_KINDS)
PART = "telegram_webhook"  # the StatusBoard part while setWebhook keeps failing
log = logging.getLogger(__name__)


def _same_secret(given: str, secret: str) -> bool:
    """Compared as bytes: `compare_digest` raises on non-ASCII str, and a header can hold any
    byte (aiohttp keeps undecodable ones as surrogates)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


def webhook_route(config: TelegramConfig, inbound: InboundQueue) -> web.RouteDef:
    async def receive(request: web.Request) -> web.Response:
        secret = config.webhook_secret
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
        if inbound.backlog(CHANNEL) >= config.max_backlog:
            # Back-pressure: nothing stored, so Telegram keeps the update and sends it again.
            response = json_error(503, "busy: too many updates waiting, retry later")
            response.headers["Retry-After"] = "1"
            return response
        await inbound.accept(CHANNEL, str(payload["update_id"]), payload, raw=text)
        return json_response({"ok": True})

    return web.post(config.webhook_path, receive)


async def register_webhook(bot: Bot, config: TelegramConfig, status: StatusBoard) -> bool:
    """One setWebhook call; False (logged, and shown by /healthz) if it failed."""
    try:
        await bot.set_webhook(
            url=config.webhook_url,
            secret_token=config.webhook_secret or None,
            allowed_updates=ALLOWED_UPDATES,
        )
    except (TelegramAPIError, ClientDecodeError) as exc:
        status.failing(PART, f"setWebhook failed: {type(exc).__name__}")
        return False
    status.healthy(PART)
    log.info("telegram webhook registered at %s", config.webhook_path)
    return True


async def keep_registering(
    bot: Bot, config: TelegramConfig, status: StatusBoard, first: float = 1.0, cap: float = 60.0
) -> None:
    """Until setWebhook succeeds: everything else keeps serving meanwhile."""
    delay = first
    while True:
        await asyncio.sleep(delay)
        if await register_webhook(bot, config, status):
            return
        delay = min(delay * 2, cap)
