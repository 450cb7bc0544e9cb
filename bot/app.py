"""Assembly: build every long-lived object from settings, wire them, start and stop them."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import redis.asyncio
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import api, inbox
from bot.campaigns.answers import SurveyAnswers
from bot.campaigns.schedule import tick as campaign_tick
from bot.campaigns.sender import CampaignSender
from bot.channels.base import ChannelPackage, CoreServices, LeaderWork
from bot.channels.registry import ChannelNeeds, build_channels
from bot.channels.telegram.sender import CHANNEL as TELEGRAM
from bot.channels.webchat.hub import WebChatHub
from bot.channels.webchat.relay import NotifyRelay
from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.delivery.inbound_queue import InboundQueue
from bot.core.delivery.outbox import ChannelSender, Outbox, ReplyBuffer, RetryPolicy
from bot.core.delivery.public_targets import TargetPolicy
from bot.core.delivery.rate_limit import MARGIN, RateLimiter
from bot.core.delivery.shared_rate import (
    PostgresSharedRate,
    RedisSharedRate,
    SharedRate,
    SharedRates,
    bucket_key,
)
from bot.core.delivery.webhooks import WebhookSender
from bot.core.hours import WorkingHours, parse_schedule
from bot.core.instance import this_instance
from bot.core.live_hours import LiveHours
from bot.core.tickets.routing import seed_rules
from bot.core.tickets.service import STAFF, TicketService
from bot.core.tickets.sla import SlaWatch
from bot.core.understanding.faq_catalog import FaqCatalog
from bot.core.understanding.intents import matcher_for
from bot.core.understanding.semantic import load_embedder
from bot.core.work_clock import working_seconds
from bot.database import engine_for
from bot.leadership import Leadership
from bot.links import pages as links
from bot.metrics import Metrics
from bot.peers import Peers
from bot.reports.monthly import send_monthly_report
from bot.scheduler import create_scheduler
from bot.startup_claims import claim_sqlite_file, listen_socket
from bot.status import StatusBoard, writes_part
from bot.web import health, keys
from bot.web.errors import error_middleware
from bot.web.flood import RequestLimiter, WebChatGuard
from bot.web.intake import body_in_time, runner_options
from storage import migrate
from storage.db import create_session_pool
from storage.models import utcnow
from storage.repositories._epoch import EPOCH
from storage.repositories.retention import RetentionPolicy, prune
from storage.repositories.ticket_report import fill_missing_times
from storage.write_watch import WriteWatch

log = logging.getLogger(__name__)
STOP_TIMEOUT = 8.0  # seconds a SIGTERM waits for the drain: within docker stop's default 10


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
    status: StatusBoard
    limiter: RateLimiter
    inbound: InboundQueue
    scheduler: AsyncIOScheduler | None = None
    leadership: Leadership | None = None
    peers: Peers | None = None
    channels: list[ChannelPackage] = field(default_factory=list)
    webhooks: WebhookSender | None = None
    hours: WorkingHours | None = None
    live_hours: LiveHours | None = None  # the hours as edited in the console, kept applied
    clock: Callable[[], datetime] = utcnow


def create_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    engine: AsyncEngine | None = None,
) -> Services:
    engine = engine or engine_for(settings.database)
    pool = create_session_pool(engine)
    metrics = Metrics()
    instance = this_instance()
    sole = engine.dialect.name == "sqlite"  # one process per file (bot/startup_claims.py)
    # A beat a second (faster with a short lease): a new instance waits two before handling.
    lease = settings.outbox.lease_seconds
    peers = Peers(pool, instance, lease, every=min(1.0, lease / 6), sole=sole)
    rates = shared_rates(settings, None if sole else pool, peers)
    hours = parse_schedule(settings.hours)
    tickets = TicketService(hours, settings.tickets, clock)
    embedder = load_embedder(settings.faq.semantic.mode)
    conversation = Conversation(
        intents=matcher_for(settings.faq, embedder),
        hours=hours,
        faq=FaqCatalog(settings.faq, embedder),
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
    if engine.dialect.name == "postgresql":  # several instances may share it: push across them
        hub.relay = NotifyRelay(hub, pool, engine, settings.database.url, settings.database.schema)
    # One limiter per bot token: replies go first, campaigns take what is left of the cap.
    limiter = RateLimiter(
        settings.campaigns.rate_per_second,
        cap=settings.telegram.sends_per_second,
        shared=rates(
            "telegram",
            settings.telegram.token,
            settings.telegram.sends_per_second,
            settings.campaigns.rate_per_second,
        ),
    )
    status = StatusBoard()
    channels = build_channels(
        settings,
        pool,
        clock,
        ChannelNeeds(conversation, tickets, hub, limiter, status, hours.zone, rates),
    )
    senders: dict[str, ChannelSender] = {channel.name: channel.sender for channel in channels}
    for channel in channels:
        if channel.staff_sender is not None:
            senders[STAFF] = channel.staff_sender
    # Every write that fails for want of disk or server is on /healthz until one succeeds.
    WriteWatch(
        failing=lambda table, reason: status.failing(writes_part(table), reason),
        healthy=lambda table: status.healthy(writes_part(table)),
    ).install(engine)
    retry = settings.outbox
    outbox = Outbox(
        pool,
        senders,
        on_blocked=tickets.customer_unreachable,
        on_failed=tickets.customer_not_reached,
        status=status,
        recovery_interval=retry.recovery_seconds,
        pickup_interval=retry.pickup_seconds,
        retry=RetryPolicy(retry.retry_base_seconds, retry.retry_max_seconds, retry.max_attempts),
        lease_seconds=retry.lease_seconds,
        sole=sole,
        owner=instance,
    )
    sla = SlaWatch(pool, outbox, hours, settings.tickets, clock)
    # Unlimited (paid broadcast) sends want more in flight than a paced 25/s does.
    unlimited = settings.campaigns.rate_per_second <= 0
    # Campaigns send to customers' channels only, never to the staff group.
    campaign_senders: dict[str, ChannelSender] = {}
    for channel in channels:
        if channel.campaign_sender is not None:
            campaign_senders[channel.name] = channel.campaign_sender
    campaigns = CampaignSender(
        pool,
        campaign_senders,
        limiter,
        hours.zone,
        limiters={c.name: c.limiter for c in channels if c.limiter is not None},
        batch=256 if unlimited else 16,
        concurrency=64 if unlimited else 16,
        clock=clock,
    )
    services = Services(
        settings,
        engine,
        pool,
        metrics,
        conversation,
        tickets,
        outbox,
        hub,
        sla,
        campaigns,
        status,
        limiter,
        InboundQueue(
            pool,
            outbox,
            metrics,
            recovery_interval=retry.recovery_seconds,
            lease_seconds=retry.lease_seconds,
            sole=sole,
            owner=instance,
            alone=lambda: peers.alone,
            prepare=conversation.prepare,
            prepare_seconds=settings.faq.semantic.max_wait_seconds,
        ),
        channels=channels,
        hours=hours,
        live_hours=LiveHours(pool, settings.hours, hours),
        clock=clock,
        peers=peers,
    )
    services.webhooks = WebhookSender(
        pool,
        RetryPolicy(retry.retry_base_seconds, retry.retry_max_seconds, retry.max_attempts),
        timeout=settings.webhooks.timeout_seconds,
        policy=TargetPolicy.allowing(settings.webhooks.allowed_targets),
    )
    return services


def create_app(services: Services) -> web.Application:
    settings = services.settings
    app = web.Application(
        client_max_size=settings.http.max_body_bytes,
        middlewares=[error_middleware, body_in_time],
    )
    app[keys.SETTINGS] = settings
    app[keys.ENGINE] = services.engine
    app[keys.SESSION_POOL] = services.session_pool
    app[keys.METRICS] = services.metrics
    app[keys.CONVERSATION] = services.conversation
    app[keys.OUTBOX] = services.outbox
    app[keys.TICKETS] = services.tickets
    app[keys.WEBCHAT_HUB] = services.webchat_hub
    app[keys.WEBCHAT_GUARD] = WebChatGuard(settings.webchat)
    app[keys.API_LIMITER] = RequestLimiter(settings.api.requests_per_minute, settings.api.burst)
    app.on_response_prepare.append(_nosniff)
    app[keys.STATUS] = services.status
    if services.live_hours is None:
        services.live_hours = LiveHours(
            services.session_pool, settings.hours, services.hours or parse_schedule(settings.hours)
        )
    app[keys.LIVE_HOURS] = services.live_hours
    app[keys.HOURS] = services.live_hours.hours
    app[keys.CLOCK] = services.clock
    app.add_routes(health.routes)
    app.add_routes(api.routes())
    inbox.setup(app, settings.api)
    links.setup(app)
    core = CoreServices(
        services.session_pool,
        services.conversation,
        services.outbox,
        services.metrics,
        services.inbound,
    )
    for channel in services.channels:
        app.add_routes(channel.routes(core))
    app.on_startup.append(lambda _app: start(services))
    app.on_cleanup.append(lambda _app: stop(services))
    return app


async def _nosniff(_request: web.Request, response: web.StreamResponse) -> None:
    """Browsers take every response as the type it says it is, never as a guessed script."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


async def _warm_faq(services: Services) -> None:
    """The FAQ index, the entry vectors no instance has stored yet (seconds of work for a new
    FAQ) and the intents' vectors are ready before the first message rather than built by it."""
    intents = services.conversation.intents
    if intents is not None:
        await asyncio.to_thread(intents.embed_phrasings)
    try:
        async with services.session_pool() as session, session.begin():
            await services.conversation.faq.matcher(session)
    except (SQLAlchemyError, OSError) as exc:  # the first message builds it instead
        log.warning("FAQ index not built at start: %s", exc)


UNTIL_EVER = datetime(2200, 1, 1, tzinfo=UTC)
# Above this many sends a second (an unlimited paid broadcast) the PostgreSQL window would be
# a long array rewritten on every send: such a rate is not shared without Redis.
PG_SHARED_MAX = 1000


def shared_rates(
    settings: Settings,
    pool: async_sessionmaker[AsyncSession] | None = None,
    peers: Peers | None = None,
) -> SharedRates:
    """For each platform account (a bot token, a VK community, a WhatsApp number) the rate
    every instance sending as it shares: in Redis with [redis] url, else in PostgreSQL (`pool`
    and `peers` given: consulted while other instances run); None on SQLite, one process."""

    def shared(platform: str, account: str, cap: float, campaigns: float) -> SharedRate | None:
        if not account:
            return None
        lanes = {"all": cap if campaigns > 0 else 0.0, "campaigns": min(campaigns, cap)}
        key = bucket_key(platform, account)
        if settings.redis.url:
            return RedisSharedRate(
                redis.asyncio.from_url(settings.redis.url), key, lanes, window=1.0 + MARGIN
            )
        if pool is None or peers is None or max(lanes.values()) > PG_SHARED_MAX:
            return None
        return PostgresSharedRate(pool, key, lanes, 1.0 + MARGIN, lambda: peers.alone)

    return shared


async def _measure_ticket_times(services: Services) -> None:
    """Tickets answered or resolved before their times were kept (revision 0034) are measured
    once, by this instance's `[hours]`, so reports sum them in SQL from the first one on."""
    hours = services.hours or parse_schedule(services.settings.hours)
    async with services.session_pool() as session, session.begin():
        filled = await fill_missing_times(
            session, EPOCH, UNTIL_EVER, partial(working_seconds, hours)
        )
    if filled:
        log.info("measured the reply and resolution times of %d earlier tickets", filled)


async def start(services: Services) -> None:
    """Migrate if asked; resume stored updates a previous process did not finish."""
    if services.settings.database.auto_migrate:
        await migrate.upgrade(services.engine)
    if services.settings.tickets.rules:
        async with services.session_pool() as session, session.begin():
            await seed_rules(session, services.settings.tickets.rules)
    if services.live_hours is not None:  # the console's edits, before anything is answered
        await services.live_hours.refresh()
        services.live_hours.start()
    await _measure_ticket_times(services)
    await _warm_faq(services)
    if isinstance(services.webchat_hub.relay, NotifyRelay):
        relay = services.webchat_hub.relay
        relay.start()
        try:  # pushes announced before it listens would reach nobody here
            await asyncio.wait_for(relay.listener.listening.wait(), 5.0)
        except TimeoutError:
            log.warning("web chat pushes: not listening yet; widgets restore from SQL meanwhile")
    if services.peers is not None:  # before anything is handled: the others must know of it
        await services.peers.join()
        services.peers.start()
    services.outbox.start()
    if services.webhooks is not None:
        services.webhooks.start()
    for channel in services.channels:
        await channel.start()
    services.inbound.start()
    settings = services.settings
    if settings.scheduler.enabled:
        services.leadership = Leadership(
            services.session_pool,
            settings.scheduler.lease_seconds,
            lambda: _lead(services),
            lambda: _step_down(services),
            owner=services.outbox.owner,
        )
        services.leadership.start()


async def _lead(services: Services) -> None:
    """This instance now leads: the scheduled jobs start here, and campaign sending, after
    putting back what the last leader left `sending` (its lease has expired or was given up,
    so nothing of it is still on the wire but the sends of its last moments)."""
    interval = float(services.settings.tickets.sla_check_seconds)
    services.scheduler = create_scheduler(
        [
            ("sla_watch", services.sla.run_once, interval),
            ("campaign_launch", lambda: launch_campaigns(services), 5.0),
            ("monthly_report", lambda: monthly_report(services), 3600.0),
            ("retention", lambda: prune_expired(services), 3600.0),
        ]
    )
    services.scheduler.start()
    await services.campaigns.resume_after_crash()
    services.campaigns.start()
    for channel in services.channels:
        if isinstance(channel, LeaderWork):
            await channel.lead()


async def _step_down(services: Services) -> None:
    if services.scheduler is not None:
        services.scheduler.shutdown(wait=False)
        services.scheduler = None
    await services.campaigns.stop()
    for channel in services.channels:
        if isinstance(channel, LeaderWork):
            await channel.step_down()


async def prune_expired(services: Services) -> dict[str, int]:
    """Hourly: delete what `[retention]` no longer keeps, in small batches."""
    config = services.settings.retention
    policy = RetentionPolicy(
        config.conversation_days, config.handled_days, config.batch, config.max_batches
    )
    deleted = await prune(services.session_pool, policy, services.conversation.now())
    if any(deleted.values()):
        log.info("retention: deleted %s", ", ".join(f"{n} {k}" for k, n in deleted.items()))
    return deleted


async def monthly_report(services: Services) -> bool:
    """Hourly check; the report for last month goes out once (see bot.reports.monthly)."""
    settings = services.settings
    if not (settings.reports.monthly and settings.telegram.enabled):
        return False
    return await send_monthly_report(
        services.session_pool,
        services.outbox,
        settings.telegram.admin_ids,
        services.tickets.hours,
        TELEGRAM,
        services.conversation.now,
        settings.reports.churn_months,
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


async def connect(services: Services) -> None:
    """Once the HTTP port listens: each channel tells its platform where to deliver (Telegram
    registers its webhook or starts polling)."""
    if not services.settings.telegram.enabled:
        log.info("telegram is off: set [telegram] token to enable it")
    for channel in services.channels:
        await channel.connect()


async def stop(services: Services) -> None:
    """A graceful stop: no new sends start (what is queued stays in SQL for the next process),
    sends on the wire finish, updates being handled are committed, sent rows are marked."""
    services.outbox.stop_sending()
    # Replies and campaign sends waiting for a turn stay queued for the next process; closing
    # the limiter first lets the campaign loops end their batch at once.
    services.limiter.close()
    if services.leadership is not None:
        await services.leadership.stop()  # steps down and frees the lease for the next leader
    await services.campaigns.stop()
    log.info("stopping: scheduled jobs and campaign sender stopped")
    for channel in services.channels:
        await channel.disconnect()
    await services.inbound.stop()
    log.info("stopping: inbound events drained")
    await services.outbox.stop()
    log.info("stopping: outbox flushed")
    if services.webhooks is not None:
        await services.webhooks.stop()
    if isinstance(services.webchat_hub.relay, NotifyRelay):
        await services.webchat_hub.relay.stop()
    for channel in services.channels:
        await channel.stop()
    if services.peers is not None:
        await services.peers.stop()
    if services.live_hours is not None:
        await services.live_hours.stop()
    await services.engine.dispose()


def freeze_startup_heap() -> None:
    """What start-up built (modules, aiogram's and pydantic's models, the FAQ index) lives as
    long as the process: moved out of the collector's sight, so a full collection scans only
    what handling allocates. Without it each full collection took 130-200 ms on this machine,
    a pause every update in flight waited through (bench/webhook.py's p99)."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings) -> None:
    """Run until cancelled (Ctrl+C or SIGTERM). The SQLite file and the port are claimed
    before anything is resumed or sent: a second process started by mistake leaves at once
    (ClaimError) instead of sending the first one's pending replies again."""
    with claim_sqlite_file(settings.database.url):
        sock = listen_socket(settings.http.host, settings.http.port)
        try:
            await _serve_on(settings, sock)
        finally:
            sock.close()


async def _serve_on(settings: Settings, sock: socket.socket) -> None:
    services = create_services(settings)
    app = create_app(services)
    runner = web.AppRunner(app, access_log=None, **runner_options(settings.http))
    await runner.setup()  # runs start(): resumes pending work, now that the port is ours
    site = web.SockSite(runner, sock)
    await site.start()
    await connect(services)
    freeze_startup_heap()
    log.info(
        "otklik listening on http://%s:%d (web chat at /chat)",
        settings.http.host,
        settings.http.port,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    try:
        await stopping.wait()
        log.info("stopping: draining handled updates and flushing the outbox")
    finally:
        # Stop taking requests, finish the updates in hand, send and mark their replies
        # (see stop()); bounded, so a hung Bot API cannot keep a deploy waiting forever.
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await runner.cleanup()
            log.info("stopped")
        except TimeoutError:
            log.warning("stop took longer than %ss; exiting anyway", STOP_TIMEOUT)
            # Whatever was sent is marked, so the next process does not send it again.
            await services.outbox.flush()
