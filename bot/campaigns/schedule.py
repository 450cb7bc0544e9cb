"""What time does to campaigns: launches (once, cron, triggers), reminders, expiry.

All of it is derived from SQL on every tick, so a restart rebuilds the schedule exactly; APScheduler
only provides the tick and the cron arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.audience import launch
from bot.campaigns.cron import crontab_trigger
from bot.campaigns.surveys import pick, question, survey_reply, texts_of
from bot.core.messages import Reply
from storage.models import Campaign, Delivery, Survey, Ticket

REMINDER = {"ru": "Напоминание", "en": "Reminder"}
CLOSED_NOTE = {"ru": "(опрос закрыт)", "en": "(this survey has closed)"}


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


async def _reminders_and_expiry(session: AsyncSession, now: datetime, result: Tick) -> None:
    rows = (
        await session.execute(
            select(Delivery, Campaign, Survey)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .join(Survey, Survey.id == Campaign.survey_id)
            .where(Delivery.status == "sent", Delivery.sent_at.is_not(None))
        )
    ).all()
    for row in rows:
        delivery, campaign, survey = row.Delivery, row.Campaign, row.Survey
        assert delivery.sent_at is not None
        language = delivery.language
        texts = texts_of(survey.texts)
        if campaign.expire_hours and now >= delivery.sent_at + timedelta(
            hours=campaign.expire_hours
        ):
            delivery.status = "expired"
            text = f"{question(survey.kind, texts, language, survey.anonymous)}\n\n"
            text += pick(CLOSED_NOTE, language)
            # The edit without buttons removes them; a late tap still gets "closed".
            result.posts.append(
                (
                    delivery.channel,
                    delivery.recipient,
                    Reply(text, edit_message_id=delivery.message_id),
                )
            )
            result.expired += 1
        elif (
            campaign.reminder_hours
            and delivery.reminded_at is None
            and now >= delivery.sent_at + timedelta(hours=campaign.reminder_hours)
        ):
            delivery.reminded_at = now
            reply = survey_reply(survey.kind, texts, language, survey.anonymous, delivery.id)
            label = pick(REMINDER, language)
            result.posts.append(
                (
                    delivery.channel,
                    delivery.recipient,
                    Reply(
                        f"{label}: {reply.text}",
                        buttons=reply.buttons,
                        edit_message_id=delivery.message_id,
                    ),
                )
            )
            result.reminded += 1
