"""Assembly: build every long-lived object from settings, wire them, start and stop them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiogram import Bot
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.campaigns.answers import SurveyAnswers
from bot.campaigns.rate_limit import RateLimiter
from bot.campaigns.schedule import tick as campaign_tick
from bot.campaigns.sender import CampaignSender
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import TelegramSender
from bot.channels.telegram_json import TelegramJsonSender
from bot.channels.telegram_staff import TelegramStaffSender
from bot.channels.webchat import CHANNEL as WEBCHAT
from bot.channels.webchat import WebChatHub, WebChatSender
from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.faq_catalog import FaqCatalog
from bot.core.hours import parse_schedule
from bot.core.outbox import ChannelSender, Outbox, ReplyBuffer
from bot.core.routing import seed_rules
from bot.core.sla import SlaWatch
from bot.core.tickets import STAFF, TicketService
from bot.database import engine_for
from bot.metrics import Metrics
from bot.monthly_report import send_monthly_report
from bot.scheduler import create_scheduler
from bot.telegram.inbox import TelegramInbox
from bot.telegram.polling import ALLOWED_UPDATES, TelegramPoller
from bot.telegram.setup import create_bot, create_dispatcher
from bot.telegram.staff_directory import StaffDirectory
from bot.web import keys
from bot.web.errors import error_middleware
from handlers import health, web_chat
from handlers.telegram_webhook import telegram_webhook
from storage import migrate
from storage.db import create_session_pool
from storage.models import utcnow

log = logging.getLogger(__name__)


class ListenError(Exception):
    """The HTTP port cannot be opened (taken, or not allowed)."""


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    session_pool: async_sessionmaker[AsyncSession]
    metrics: Metrics
    conversation: Conversation
    tickets: TicketService
    outbox: Outbox
    webchat_hub: WebChatHub
    sla: SlaWatch
    campaigns: CampaignSender
    scheduler: AsyncIOScheduler | None = None
    bot: Bot | None = None
    inbox: TelegramInbox | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)


def create_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    engine: AsyncEngine | None = None,
) -> Services:
    engine = engine or engine_for(settings.database)
    pool = create_session_pool(engine)
    metrics = Metrics()
    hours = parse_schedule(settings.hours)
    tickets = TicketService(hours, settings.tickets, clock)
    conversation = Conversation(
        hours=hours,
        faq=FaqCatalog(),
        faq_config=settings.faq,
        metrics=metrics,
        tickets=tickets,
        surveys=SurveyAnswers(clock),
        bot_name=settings.bot.name,
        default_language=settings.bot.default_language,
        max_message_chars=settings.bot.max_message_chars,
        clock=clock,
    )
    hub = WebChatHub()
    senders: dict[str, ChannelSender] = {WEBCHAT: WebChatSender(hub)}
    limiter = RateLimiter(settings.campaigns.rate_per_second)
    outbox = Outbox(pool, senders, on_blocked=tickets.customer_unreachable)
    sla = SlaWatch(pool, outbox, hours, settings.tickets, clock)
    # Unlimited (paid broadcast) sends want more in flight than a paced 25/s does.
    unlimited = settings.campaigns.rate_per_second <= 0
    # Campaigns send to customers' channels only, never to the staff group.
    campaign_senders: dict[str, ChannelSender] = {WEBCHAT: senders[WEBCHAT]}
    campaigns = CampaignSender(
        pool,
        campaign_senders,
        limiter,
        hours.zone,
        batch=256 if unlimited else 16,
        concurrency=64 if unlimited else 16,
        clock=clock,
    )
    services = Services(
        settings, engine, pool, metrics, conversation, tickets, outbox, hub, sla, campaigns
    )
    if settings.telegram.enabled:
        bot = create_bot(settings.telegram)
        services.bot = bot
        sender = TelegramSender(bot, limiter)
        senders[TELEGRAM] = campaign_senders[TELEGRAM] = TelegramJsonSender(bot, sender)
        staff: StaffDirectory | None = None
        if settings.telegram.staff_chat_id:
            staff_id = settings.telegram.staff_chat_id
            staff = StaffDirectory(bot, staff_id, settings.telegram.admin_ids)
            senders[STAFF] = TelegramStaffSender(bot, sender, pool, staff_id)
        services.inbox = TelegramInbox(
            create_dispatcher(
                conversation, tickets, staff, settings.telegram.admin_ids, hours.zone, clock
            ),
            bot,
            pool,
            metrics,
            outbox,
        )
    return services


def create_app(services: Services) -> web.Application:
    settings = services.settings
    app = web.Application(
        client_max_size=settings.http.max_body_bytes, middlewares=[error_middleware]
    )
    app[keys.SETTINGS] = settings
    app[keys.ENGINE] = services.engine
    app[keys.SESSION_POOL] = services.session_pool
    app[keys.METRICS] = services.metrics
    app[keys.CONVERSATION] = services.conversation
    app[keys.OUTBOX] = services.outbox
    app[keys.WEBCHAT_HUB] = services.webchat_hub
    app.add_routes(health.routes)
    app.add_routes(web_chat.routes)
    if services.inbox is not None and settings.telegram.mode == "webhook":
        app[keys.TELEGRAM_INBOX] = services.inbox
        app.router.add_post(settings.telegram.webhook_path, telegram_webhook)
    app.on_startup.append(lambda _app: start(services))
    app.on_cleanup.append(lambda _app: stop(services))
    return app


async def start(services: Services) -> None:
    """Migrate if asked; resume stored updates a previous process did not finish."""
    if services.settings.database.auto_migrate:
        await migrate.upgrade(services.engine)
    if services.settings.tickets.rules:
        async with services.session_pool() as session, session.begin():
            await seed_rules(session, services.settings.tickets.rules)
    services.outbox.start()
    settings = services.settings
    if settings.scheduler.enabled:
        interval = float(settings.tickets.sla_check_seconds)
        services.scheduler = create_scheduler(
            [
                ("sla_watch", services.sla.run_once, interval),
                ("campaign_launch", lambda: launch_campaigns(services), 5.0),
                ("monthly_report", lambda: monthly_report(services), 3600.0),
            ]
        )
        services.scheduler.start()
        await services.campaigns.resume_after_crash()
        services.campaigns.start()
    if services.inbox is not None:
        services.inbox.start()


async def monthly_report(services: Services) -> bool:
    """Hourly check; the report for last month goes out once (see bot.monthly_report)."""
    settings = services.settings
    if not (settings.reports.monthly and settings.telegram.enabled):
        return False
    return await send_monthly_report(
        services.session_pool,
        services.outbox,
        settings.telegram.admin_ids,
        services.conversation.now,
    )


async def launch_campaigns(services: Services) -> int:
    """One tick of campaign time: launches, reminders, expiry; then wake the sender."""
    async with services.session_pool() as session, session.begin():
        result = await campaign_tick(session, services.conversation.now(), services.campaigns.zone)
        queued = await services.outbox.enqueue(session, ReplyBuffer(result.posts))
    if queued:
        await services.outbox.deliver(queued)
    if result.queued:
        services.campaigns.wake.set()
    return result.queued


async def connect_telegram(services: Services) -> None:
    """Register the webhook or start polling; called once the HTTP port is listening, so the
    first webhook delivery finds us."""
    settings = services.settings
    if services.bot is None or services.inbox is None:
        log.info("telegram is off: set [telegram] token to enable it")
        return
    tg = settings.telegram
    if tg.mode == "webhook":
        await services.bot.set_webhook(
            url=tg.webhook_url,
            secret_token=tg.webhook_secret or None,
            allowed_updates=ALLOWED_UPDATES,
        )
        log.info("telegram webhook registered at %s", tg.webhook_path)
    else:
        poller = TelegramPoller(services.bot, services.inbox, timeout=tg.polling_timeout)
        services.background.append(asyncio.create_task(poller.run()))
        log.info("telegram polling started")


async def stop(services: Services) -> None:
    if services.scheduler is not None:
        services.scheduler.shutdown(wait=False)
        services.scheduler = None
    await services.campaigns.stop()
    for task in services.background:
        task.cancel()
    await asyncio.gather(*services.background, return_exceptions=True)
    services.background.clear()
    if services.inbox is not None:
        await services.inbox.stop()
    await services.outbox.stop()
    if services.bot is not None:
        await services.bot.session.close()
    await services.engine.dispose()


async def serve(settings: Settings) -> None:
    """Run until cancelled (Ctrl+C or SIGTERM)."""
    services = create_services(settings)
    app = create_app(services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ListenError(
            f"cannot listen on {settings.http.host}:{settings.http.port}: {exc.strerror}"
        ) from None
    await connect_telegram(services)
    log.info(
        "otklik listening on http://%s:%d (web chat at /chat)",
        settings.http.host,
        settings.http.port,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
