"""What time does to campaigns: launches (once, cron, triggers), reminders, expiry.

All of it is derived from SQL on every tick, so a restart rebuilds the schedule exactly; APScheduler
only provides the tick and the cron arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.audience import launch
from bot.campaigns.cron import crontab_trigger
from bot.campaigns.surveys import pick, question, survey_reply, texts_of
from bot.core.messages import Reply
from storage.models import Campaign, Delivery, Survey, Ticket

REMINDER = {"ru": "Напоминание", "en": "Reminder"}
CLOSED_NOTE = {"ru": "(опрос закрыт)", "en": "(this survey has closed)"}
PAGE = 500  # due deliveries handled per tick and campaign (the tick is every 5 s)


@dataclass
class Tick:
    queued: int = 0
    posts: list[tuple[str, str, Reply]] = field(default_factory=list)
    reminded: int = 0
    expired: int = 0


async def tick(session: AsyncSession, now: datetime, zone: ZoneInfo) -> Tick:
    result = Tick()
    campaigns = (
        (
            await session.execute(
                select(Campaign).where(Campaign.status.in_(("scheduled", "running")))
            )
        )
        .scalars()
        .all()
    )
    for campaign in campaigns:
        result.queued += await _launch(session, campaign, now, zone)
    await _reminders_and_expiry(session, now, result)
    return result


async def _launch(session: AsyncSession, campaign: Campaign, now: datetime, zone: ZoneInfo) -> int:
    if campaign.schedule == "once":
        if campaign.status != "scheduled" or campaign.run_at is None or campaign.run_at > now:
            return 0
        campaign.status, campaign.started_at = "running", now
        return await launch(session, campaign, now, zone)
    if campaign.schedule == "cron":
        trigger = crontab_trigger(campaign.cron, zone)
        previous = campaign.started_at or campaign.created_at
        fire = trigger.get_next_fire_time(previous, previous)
        if fire is None or fire > now:
            return 0
        # Catch up to the latest fire time only: a long outage sends one run, not many.
        while True:
            following = trigger.get_next_fire_time(fire, fire)
            if following is None or following > now:
                break
            fire = following
        fire = fire.astimezone(UTC)
        campaign.status, campaign.started_at = "running", fire
        return await launch(session, campaign, now, zone, run_key=fire.strftime("%Y%m%dT%H%M"))
    return await _triggered(session, campaign, now, zone)


async def _triggered(
    session: AsyncSession, campaign: Campaign, now: datetime, zone: ZoneInfo
) -> int:
    """first_contact: N hours after a customer's first contact, once per customer;
    ticket_resolved: N hours after each ticket resolved since the campaign was created."""
    campaign.status = "running"
    delay = timedelta(hours=campaign.trigger_delay_hours)
    if campaign.trigger == "first_contact":
        due = now - delay
        return await launch(
            session,
            campaign,
            now,
            zone,
            run_key="",
            first_contact_before=due,
            first_contact_after=campaign.created_at - delay,
        )
    tickets = (
        (
            await session.execute(
                select(Ticket).where(
                    Ticket.resolved_at.is_not(None),
                    Ticket.resolved_at <= now - delay,
                    Ticket.resolved_at >= campaign.created_at,
                )
            )
        )
        .scalars()
        .all()
    )
    queued = 0
    for ticket in tickets:
        queued += await launch(
            session, campaign, now, zone, run_key=f"t{ticket.id}", customer_id=ticket.customer_id
        )
    return queued


async def _reminders_and_expiry(
    session: AsyncSession, now: datetime, result: Tick, page: int = PAGE
) -> None:
    """Only deliveries that are due, read by index (campaign, status, sent_at) in pages of
    `page` a tick: a campaign with tens of thousands of sent deliveries costs nothing until
    they come due, then a page per tick."""
    campaigns = (
        await session.execute(
            select(Campaign, Survey)
            .join(Survey, Survey.id == Campaign.survey_id)
            .where(or_(Campaign.expire_hours > 0, Campaign.reminder_hours > 0))
        )
    ).all()
    for campaign, survey in campaigns:
        texts = texts_of(survey.texts)
        if campaign.expire_hours:
            for delivery in await _sent_before(
                session, campaign.id, now - timedelta(hours=campaign.expire_hours), page
            ):
                language = delivery.language
                delivery.status = "expired"
                text = f"{question(survey.kind, texts, language, survey.anonymous)}\n\n"
                text += pick(CLOSED_NOTE, language)
                # The edit without buttons removes them; a late tap still gets "closed".
                edit = Reply(text, edit_message_id=delivery.message_id, edit_only=True)
                result.posts.append((delivery.channel, delivery.recipient, edit))
                result.expired += 1
            # Held for a visitor who never came back to see it: it never reached them.
            for delivery in await _sent_before(
                session,
                campaign.id,
                now - timedelta(hours=campaign.expire_hours),
                page,
                status="held",
            ):
                delivery.status = "unseen"
        if campaign.reminder_hours:
            cutoff = now - timedelta(hours=campaign.reminder_hours)
            for delivery in await _sent_before(session, campaign.id, cutoff, page, reminded=False):
                if delivery.status != "sent":
                    continue  # expired just above
                delivery.reminded_at = now
                language = delivery.language
                reply = survey_reply(survey.kind, texts, language, survey.anonymous, delivery.id)
                label = pick(REMINDER, language)
                reminder = Reply(
                    f"{label}: {reply.text}",
                    buttons=reply.buttons,
                    edit_message_id=delivery.message_id,
                )
                result.posts.append((delivery.channel, delivery.recipient, reminder))
                result.reminded += 1


async def _sent_before(
    session: AsyncSession,
    campaign_id: int,
    cutoff: datetime,
    page: int,
    *,
    reminded: bool | None = None,
    status: str = "sent",
) -> Sequence[Delivery]:
    statement = (
        select(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status == status,
            Delivery.sent_at.is_not(None),
            Delivery.sent_at <= cutoff,
        )
        .order_by(Delivery.sent_at)
        .limit(page)
    )
    if reminded is False:
        statement = statement.where(Delivery.reminded_at.is_(None))
    return (await session.execute(statement)).scalars().all()
