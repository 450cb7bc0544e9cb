"""Admin commands in a private chat with the bot, for `admin_ids` only: campaigns and reports.
Anyone else falls through to the customer router and gets the customer's menu."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns import service
from bot.channels.telegram import CHANNEL
from bot.charts import trend_png
from bot.cli_campaigns import progress
from bot.core.messages import Reply
from bot.core.outbox import ReplyBuffer
from bot.reports import render, rows_for
from storage.models import Campaign
from storage.repositories.reports import ReportFilter, score_counts

HELP = (
    "Admin commands: /campaigns, /campaign ID, /pause ID, /resume ID, /cancel_campaign ID, "
    "/report nps|csat|ces [week|month]"
)


def create_admin_router(admin_ids: list[int]) -> Router:
    router = Router(name="admin")
    admins = set(admin_ids)

    async def is_admin(message: Message) -> bool:
        user = message.from_user
        return message.chat.type == "private" and user is not None and user.id in admins

    router.message.filter(is_admin)
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
    campaign = await session.get(Campaign, int(argument)) if argument.isdigit() else None
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
