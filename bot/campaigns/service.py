"""Campaign lifecycle: draft -> scheduled -> running -> paused -> done | cancelled."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.audience import parse_audience
from bot.campaigns.cron import crontab_trigger
from bot.core.texts import Refusal
from storage.models import Campaign, Delivery, Survey

KINDS = ("nps", "csat", "ces", "custom")
TRANSITIONS = {
    "pause": ({"running", "scheduled"}, "paused"),
    "resume": ({"paused"}, "running"),
    "cancel": ({"draft", "scheduled", "running", "paused"}, "cancelled"),
}


class CampaignError(Refusal):
    """Names the field or state that is wrong; a campaign's state is said as a word."""

    WORDS: ClassVar[dict[str, str]] = {"status": "cs_"}


@dataclass(frozen=True)
class CampaignStatus:
    campaign: Campaign
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def response_rate(self) -> float | None:
        """answered / delivered, delivered meaning sent without error (answered ones included);
        a survey held for a web chat visitor who has not opened the chat since is not."""
        delivered = self.counts.get("sent", 0) + self.counts.get("answered", 0)
        return self.counts.get("answered", 0) / delivered if delivered else None


async def create_survey(
    session: AsyncSession, name: str, kind: str, anonymous: bool, texts: str
) -> Survey:
    if kind not in KINDS:
        raise CampaignError(
            f"kind: must be one of {', '.join(KINDS)}", "campaign_bad_kind", kinds=", ".join(KINDS)
        )
    try:
        data = json.loads(texts or "{}")
    except ValueError:
        raise CampaignError("texts: not valid JSON") from None
    if not isinstance(data, dict):
        raise CampaignError("texts: must be a JSON object")
    if kind == "custom" and not data.get("options"):
        raise CampaignError("texts.options: a custom survey needs a list of options")
    if (await session.execute(select(Survey).where(Survey.name == name))).scalar_one_or_none():
        raise CampaignError(
            f"name: a survey named {name!r} exists", "campaign_survey_exists", name=name
        )
    survey = Survey(
        name=name, kind=kind, anonymous=anonymous, texts=json.dumps(data, ensure_ascii=False)
    )
    session.add(survey)
    await session.flush()
    return survey


async def survey_named(session: AsyncSession, name: str) -> Survey | None:
    return (await session.execute(select(Survey).where(Survey.name == name))).scalar_one_or_none()


async def surveys(session: AsyncSession) -> Sequence[Survey]:
    """Every survey, oldest first (the CLI, /surveys and the wizard list them)."""
    return (await session.execute(select(Survey).order_by(Survey.id))).scalars().all()


async def campaigns(session: AsyncSession, *, newest_first: bool = False) -> Sequence[Campaign]:
    """Every campaign (the API, the CLI, Telegram's /campaigns and the console list them)."""
    order = Campaign.id.desc() if newest_first else Campaign.id
    return (await session.execute(select(Campaign).order_by(order))).scalars().all()


async def create_campaign(
    session: AsyncSession,
    *,
    name: str,
    survey_name: str,
    run_at: datetime | None = None,
    cron: str = "",
    trigger: str = "",
    trigger_delay_hours: int = 0,
    audience: str = "{}",
    throttle_days: int = 30,
    quiet: str = "21:00-09:00",
    reminder_hours: int = 0,
    expire_hours: int = 72,
) -> Campaign:
    survey = (
        await session.execute(select(Survey).where(Survey.name == survey_name))
    ).scalar_one_or_none()
    if survey is None:
        raise CampaignError(
            f"survey: no survey named {survey_name!r} (otklik survey list)",
            "campaign_no_survey",
            name=survey_name,
        )
    if sum(bool(x) for x in (run_at, cron, trigger)) > 1:
        raise CampaignError("schedule: give one of --at, --cron, --trigger")
    if cron:
        try:
            crontab_trigger(cron)
        except ValueError as exc:
            raise CampaignError(f"cron: {exc}", "campaign_bad_cron", cron=cron[:64]) from None
    if trigger and trigger not in ("first_contact", "ticket_resolved"):
        raise CampaignError("trigger: first_contact or ticket_resolved", "campaign_bad_trigger")
    try:
        parse_audience(audience)
    except ValueError as exc:
        raise CampaignError(f"audience: {exc}") from None
    start, _, end = ("", "", "") if quiet == "off" else quiet.partition("-")
    try:
        if start or end:
            datetime.strptime(start, "%H:%M")
            datetime.strptime(end, "%H:%M")
    except ValueError:
        raise CampaignError(
            "quiet: expected HH:MM-HH:MM or off", "campaign_bad_quiet", quiet=quiet[:20]
        ) from None
    for field, value in (
        ("throttle_days", throttle_days),
        ("expire_hours", expire_hours),
        ("reminder_hours", reminder_hours),
    ):
        if value < 0:
            raise CampaignError(f"{field}: must not be negative", "campaign_negative", field=field)
    campaign = Campaign(
        name=name,
        survey_id=survey.id,
        status="scheduled" if (run_at or cron or trigger) else "draft",
        schedule="cron" if cron else "trigger" if trigger else "once",
        run_at=run_at,
        cron=cron,
        trigger=trigger,
        trigger_delay_hours=trigger_delay_hours,
        audience=audience,
        throttle_days=throttle_days,
        quiet_start=start,
        quiet_end=end,
        reminder_hours=reminder_hours,
        expire_hours=expire_hours,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def change_state(session: AsyncSession, campaign: Campaign, action: str) -> None:
    allowed, target = TRANSITIONS[action]
    if campaign.status not in allowed:
        raise CampaignError(
            f"status: cannot {action} a campaign that is {campaign.status}",
            "campaign_bad_state",
            status=campaign.status,
        )
    if action == "resume" and campaign.started_at is None:
        target = "scheduled"
    campaign.status = target


def start_now(campaign: Campaign, now: datetime) -> None:
    """A draft or scheduled campaign goes out at the next scheduler tick, on any instance."""
    if campaign.status not in ("draft", "scheduled"):
        raise CampaignError(
            f"status: cannot start a campaign that is {campaign.status}",
            "campaign_bad_state",
            status=campaign.status,
        )
    campaign.run_at = now
    campaign.status = "scheduled"
    campaign.schedule = "once"


async def status(session: AsyncSession, campaign: Campaign) -> CampaignStatus:
    rows = await session.execute(
        select(Delivery.status, func.count(Delivery.id))
        .where(Delivery.campaign_id == campaign.id)
        .group_by(Delivery.status)
    )
    return CampaignStatus(campaign, {str(s): int(n) for s, n in rows.all()})
