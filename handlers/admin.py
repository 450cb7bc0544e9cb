"""Admin commands in a private chat with the bot, for `admin_ids` only: campaigns and reports.
Anyone else falls through to the customer router and gets the customer's menu."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns import service
from bot.campaigns.audience import describe_skips, skipped_of
from bot.channels.telegram import CHANNEL
from bot.charts import trend_png
from bot.cli_campaigns import progress
from bot.core.messages import Button, Reply
from bot.core.outbox import ReplyBuffer
from bot.core.untrusted import parse_id
from bot.reports import render, rows_for
from storage.db import short_statements
from storage.models import Campaign, Survey
from storage.repositories.reports import ReportFilter, score_counts

HELP = (
    "Admin commands: /newsurvey NAME nps|csat|ces|custom [anonymous], /surveys, /newcampaign, "
    "/campaigns, /campaign ID, /pause ID, /resume ID, /cancel_campaign ID, "
    "/report nps|csat|ces [week|month]"
)
NEW_SURVEY_HELP = (
    "Usage: /newsurvey NAME nps|csat|ces [anonymous], or /newsurvey NAME custom Option 1; "
    "Option 2; ... Questions and follow-ups get the default texts in Russian and English; "
    "other texts: otklik survey create --texts."
)
# The wizard keeps its state in the buttons themselves (wz:<survey>:<when>:<audience>:ok),
# so there is nothing to lose between steps and nothing to clean up after. Times are on the
# business's clock ([hours] timezone).
WHEN = {
    "now": "now",
    "tmr": "tomorrow at 10:00",
    "mon": "every Monday at 10:00",
    "m1": "on the 1st of every month at 10:00",
}
CRON = {"mon": "0 10 * * 1", "m1": "0 10 1 * *"}
AUDIENCES = {
    "all": ("everyone", "{}"),
    "tg": ("Telegram customers", '{"channel": "telegram"}'),
    "web": ("web chat customers", '{"channel": "webchat"}'),
    "ru": ("Russian speakers", '{"language": "ru"}'),
    "en": ("English speakers", '{"language": "en"}'),
}


async def _long_statements(
    handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
    event: TelegramObject,
    data: dict[str, Any],
) -> Any:
    """A report scans a roll-up and a launch inserts a row per recipient: on SQLite these run in
    the driver's thread even inside the webhook's batch, so they never hold the event loop."""
    with short_statements(False):
        return await handler(event, data)


def create_admin_router(admin_ids: list[int]) -> Router:
    router = Router(name="admin")
    admins = set(admin_ids)

    async def is_admin(message: Message) -> bool:
        user = message.from_user
        return message.chat.type == "private" and user is not None and user.id in admins

    async def is_admin_button(query: CallbackQuery) -> bool:
        data = query.data or ""
        return query.from_user.id in admins and data.startswith("wz:")

    router.message.filter(is_admin)
    router.callback_query.filter(is_admin_button)
    router.message.middleware(_long_statements)
    router.callback_query.middleware(_long_statements)
    router.callback_query.register(wizard_step)
    router.message.register(new_survey, Command("newsurvey"))
    router.message.register(surveys, Command("surveys"))
    router.message.register(wizard_start, Command("newcampaign"))
    router.message.register(campaigns, Command("campaigns"))
    router.message.register(campaign_status, Command("campaign"))
    router.message.register(change_state, Command("pause", "resume", "cancel_campaign"))
    router.message.register(report, Command("report"))
    router.message.register(admin_help, Command("admin"))
    return router


def _answer(replies: ReplyBuffer, message: Message, text: str) -> None:
    replies.extend(CHANNEL, str(message.chat.id), [Reply(text)])


async def admin_help(message: Message, replies: ReplyBuffer) -> None:
    _answer(replies, message, HELP)


async def campaigns(message: Message, session: AsyncSession, replies: ReplyBuffer) -> None:
    rows = (await session.execute(select(Campaign).order_by(Campaign.id))).scalars().all()
    lines = [f"#{c.id} {c.name} · {c.status} · {c.schedule}" for c in rows] or ["No campaigns."]
    _answer(replies, message, "\n".join(lines))


async def _campaign(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> Campaign | None:
    argument = (command.args or "").strip().lstrip("#")
    campaign_id = parse_id(argument)
    campaign = await session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign is None:
        _answer(replies, message, f"No campaign {argument or '(give an id)'}. {HELP}")
    return campaign


async def campaign_status(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> None:
    campaign = await _campaign(message, command, session, replies)
    if campaign is None:
        return
    state = await service.status(session, campaign)
    rate = state.response_rate
    counts = ", ".join(f"{k} {v}" for k, v in sorted(state.counts.items())) or "no deliveries"
    text = (
        f"#{campaign.id} {campaign.name}: {campaign.status}\n{progress(state.counts, 20)}\n"
        f"{counts}\nresponse rate {f'{rate:.1%}' if rate is not None else '—'}"
    )
    skipped = describe_skips(skipped_of(campaign))
    if skipped:
        text += f"\n{skipped}"
    _answer(replies, message, text)


async def change_state(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> None:
    campaign = await _campaign(message, command, session, replies)
    if campaign is None:
        return
    action = "cancel" if command.command == "cancel_campaign" else command.command
    try:
        await service.change_state(session, campaign, action)
    except service.CampaignError as exc:
        _answer(replies, message, str(exc))
        return
    _answer(replies, message, f"#{campaign.id} is {campaign.status}.")


async def surveys(message: Message, session: AsyncSession, replies: ReplyBuffer) -> None:
    rows = await service.surveys(session)
    lines = [
        f"#{s.id} {s.name} · {s.kind}{' · anonymous' if s.anonymous else ''}" for s in rows
    ] or ["No surveys yet. " + NEW_SURVEY_HELP]
    _answer(replies, message, "\n".join(lines))


async def new_survey(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> None:
    words = (command.args or "").split(maxsplit=2)
    if len(words) < 2:
        _answer(replies, message, NEW_SURVEY_HELP)
        return
    name, kind, rest = words[0], words[1].lower(), words[2] if len(words) > 2 else ""
    texts: dict[str, object] = {}
    anonymous = False
    if kind == "custom":
        texts["options"] = [option.strip() for option in rest.split(";") if option.strip()]
    elif rest.strip().lower() == "anonymous":
        anonymous = True
    elif rest.strip():
        _answer(replies, message, f"Unexpected {rest.strip()!r}. {NEW_SURVEY_HELP}")
        return
    try:
        survey = await service.create_survey(
            session, name, kind, anonymous, json.dumps(texts, ensure_ascii=False)
        )
    except service.CampaignError as exc:
        _answer(replies, message, f"Not created: {exc}. {NEW_SURVEY_HELP}")
        return
    note = " (anonymous: answers keep no link to the customer)" if anonymous else ""
    _answer(
        replies,
        message,
        f"Survey #{survey.id} “{survey.name}” ({kind}) created{note}. /newcampaign sends it.",
    )


def _buttons(rows: list[list[tuple[str, str]]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(Button(text, data) for text, data in row) for row in rows)


async def wizard_start(message: Message, session: AsyncSession, replies: ReplyBuffer) -> None:
    available = await service.surveys(session)
    if not available:
        _answer(replies, message, "No surveys yet. " + NEW_SURVEY_HELP)
        return
    rows = [[(f"{s.name} ({s.kind})", f"wz:{s.id}")] for s in available[:10]]
    reply = Reply("New campaign, step 1 of 3: which survey?", buttons=_buttons(rows))
    replies.extend(CHANNEL, str(message.chat.id), [reply])


async def wizard_step(
    query: CallbackQuery,
    session: AsyncSession,
    replies: ReplyBuffer,
    business_zone: ZoneInfo,
    clock: Callable[[], datetime],
) -> None:
    if query.message is None:
        return
    chat = str(query.message.chat.id)
    parts = (query.data or "").split(":")[1:]
    if parts[-1:] == ["x"]:
        replies.extend(CHANNEL, chat, [Reply("Cancelled: no campaign created.")])
        return
    survey_id = parse_id(parts[0]) if parts else None
    survey = await session.get(Survey, survey_id) if survey_id is not None else None
    if (
        survey is None
        or (len(parts) > 1 and parts[1] not in WHEN)
        or (len(parts) > 2 and parts[2] not in AUDIENCES)
    ):
        replies.extend(CHANNEL, chat, [Reply("That step is no longer valid. /newcampaign")])
        return
    prefix = "wz:" + ":".join(parts)
    if len(parts) == 1:
        rows = [[(label, f"{prefix}:{key}")] for key, label in WHEN.items()]
        text = f"Step 2 of 3: survey “{survey.name}”. When? (Times are {business_zone.key}.)"
    elif len(parts) == 2:
        rows = [[(label, f"{prefix}:{key}")] for key, (label, _) in AUDIENCES.items()]
        text = "Step 3 of 3: who is asked?"
    elif len(parts) == 3:
        rows = [[("✅ Create", f"{prefix}:ok"), ("✖️ Cancel", "wz:0:x")]]
        text = (
            f"Survey “{survey.name}”, {WHEN[parts[1]]}, {AUDIENCES[parts[2]][0]}; "
            "recontact throttle 30 days, quiet hours 21:00-09:00. Create it?"
        )
    else:
        campaign = await _create_from_wizard(
            session, survey, parts[1], parts[2], clock(), business_zone
        )
        replies.extend(
            CHANNEL,
            chat,
            [Reply(f"Campaign #{campaign.id} “{campaign.name}” is {campaign.status}.")],
        )
        return
    replies.extend(CHANNEL, chat, [Reply(text, buttons=_buttons(rows))])


async def _create_from_wizard(
    session: AsyncSession, survey: Survey, when: str, audience: str, now: datetime, zone: ZoneInfo
) -> Campaign:
    if when in CRON:
        return await service.create_campaign(
            session,
            name=f"{survey.name} {WHEN[when]}",
            survey_name=survey.name,
            cron=CRON[when],
            audience=AUDIENCES[audience][1],
        )
    run_at = now
    if when == "tmr":
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        run_at = datetime.combine(tomorrow, time(10, 0), zone).astimezone(UTC)
    return await service.create_campaign(
        session,
        name=f"{survey.name} {run_at.astimezone(zone):%Y-%m-%d}",
        survey_name=survey.name,
        run_at=run_at,
        audience=AUDIENCES[audience][1],
    )


async def report(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> None:
    words = (command.args or "nps").split()
    kind = words[0].lower()
    by = words[1].lower() if len(words) > 1 else None
    if kind not in ("nps", "csat", "ces") or by not in (None, "week", "month"):
        _answer(replies, message, HELP)
        return
    rows = rows_for(kind, await score_counts(session, ReportFilter(kind=kind, by=by)))
    text = render(kind, rows, "text")
    if by is None:  # the chart always shows a trend: weekly unless a period was asked for
        rows = rows_for(kind, await score_counts(session, ReportFilter(kind=kind, by="week")))
    chart = trend_png(kind, rows, f"{kind.upper()} by {by or 'week'}")
    replies.extend(CHANNEL, str(message.chat.id), [Reply(text), Reply("", image=chart)])
