"""Admin commands in a private chat with the bot, for `admin_ids` only: campaigns and reports.
Anyone else falls through to the customer router and gets the customer's menu."""

from __future__ import annotations

import json
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns import service
from bot.campaigns.audience import describe_skips, skipped_of
from bot.campaigns.progress import progress
from bot.core.buttons import ButtonData, Id32, OneOf, decode
from bot.core.conversation import Conversation
from bot.core.delivery.outbox import ReplyBuffer
from bot.core.messages import Button, Reply
from bot.core.texts import has, t
from bot.core.tickets.service import TicketService
from bot.core.understanding.gaps import find_gaps
from bot.core.understanding.language import from_language_code
from bot.core.untrusted import parse_id
from bot.reports import manager
from bot.reports import render as manager_render
from bot.reports.charts import trend_png
from bot.reports.periods import PERIODS
from bot.reports.report_charts import report_png
from bot.reports.surveys import render, rows_for
from handlers.translate import CHANNEL
from storage.db import short_statements
from storage.models import Campaign, Survey
from storage.repositories.faq_gaps import FaqGaps
from storage.repositories.reports import ReportFilter, score_counts

# The wizard keeps its state in the buttons themselves (wz:<survey>:<when>:<audience>:ok),
# so there is nothing to lose between steps and nothing to clean up after. Times are on the
# business's clock ([hours] timezone).
WHEN = ("now", "tmr", "mon", "m1")  # labels: catalog/admins.toml "when_<key>"
CRON = {"mon": "0 10 * * 1", "m1": "0 10 1 * *"}
AUDIENCES = {  # labels: catalog/admins.toml "who_<key>"
    "all": "{}",
    "tg": '{"channel": "telegram"}',
    "web": '{"channel": "webchat"}',
    "ru": '{"language": "ru"}',
    "en": '{"language": "en"}',
}

WIZARD_PREFIX = "wz"


@dataclass(frozen=True)
class WizardSurvey(ButtonData):
    prefix = WIZARD_PREFIX
    survey_id: Id32


@dataclass(frozen=True)
class WizardWhen(ButtonData):
    prefix = WIZARD_PREFIX
    survey_id: Id32
    when: Annotated[str, OneOf(WHEN)]


@dataclass(frozen=True)
class WizardAudience(ButtonData):
    prefix = WIZARD_PREFIX
    survey_id: Id32
    when: Annotated[str, OneOf(WHEN)]
    audience: Annotated[str, OneOf(tuple(AUDIENCES))]


@dataclass(frozen=True)
class WizardCreate(ButtonData):
    prefix = WIZARD_PREFIX
    survey_id: Id32
    when: Annotated[str, OneOf(WHEN)]
    audience: Annotated[str, OneOf(tuple(AUDIENCES))]
    ok: Annotated[str, OneOf(("ok",))] = "ok"


@dataclass(frozen=True)
class WizardCancel(ButtonData):
    prefix = f"{WIZARD_PREFIX}:0:x"


WIZARD_STEPS = (WizardCancel, WizardSurvey, WizardWhen, WizardAudience, WizardCreate)


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
        return query.from_user.id in admins and data.startswith(WIZARD_PREFIX + ":")

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


GAPS_DAYS = 30
GAPS_SHOWN = 10  # groups in one message; the CLI and the console show them all
GAP_EXAMPLES = 3


async def _gaps(
    session: AsyncSession, conversation: Conversation, now: datetime, language: str
) -> str:
    """What `otklik faq gaps` says for the last 30 days, the biggest groups, in the admin's
    language, each with the one step that closes it."""
    since = datetime.combine((now - timedelta(days=GAPS_DAYS - 1)).date(), time(), UTC)
    misses = await FaqGaps(session).misses(since, None)
    matcher = await conversation.faq.matcher(session)
    gaps = await find_gaps(matcher, misses)
    if not gaps:
        return t("no_gaps_days", language, days=GAPS_DAYS)
    lines = [t("gaps_head", language, days=GAPS_DAYS, misses=len(misses), groups=len(gaps))]
    for number, gap in enumerate(gaps[:GAPS_SHOWN], start=1):
        examples = " · ".join(f"«{e}»" for e in gap.examples[:GAP_EXAMPLES])
        lines.append(t("gap_line", language, number=number, count=gap.count, examples=examples))
        phrase = shlex.quote(gap.examples[0])
        doc = gap.entry
        if doc is not None and doc.slug:
            lines.append(
                t("gap_keyword", language, question=doc.question, slug=doc.slug, phrase=phrase)
            )
        else:
            lines.append(t("gap_new", language, phrase=phrase))
    if len(gaps) > GAPS_SHOWN:
        lines.append(t("gaps_more", language, more=len(gaps) - GAPS_SHOWN))
    return "\n".join(lines)


async def admin_help(message: Message, replies: ReplyBuffer) -> None:
    _answer(replies, message, t("help", language_of(message.from_user)))


async def campaigns(message: Message, session: AsyncSession, replies: ReplyBuffer) -> None:
    language = language_of(message.from_user)
    rows = await service.campaigns(session)
    lines = [
        f"#{c.id} {c.name} · {status_word(c.status, language)} · {c.schedule}" for c in rows
    ] or [t("no_campaigns_now", language)]
    _answer(replies, message, "\n".join(lines))


async def _campaign(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> Campaign | None:
    argument = (command.args or "").strip().lstrip("#")
    campaign_id = parse_id(argument)
    campaign = await session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign is None:
        language = language_of(message.from_user)
        what = argument or t("give_an_id", language)
        text = f"{t('no_campaign', language, what=what)} {t('help', language)}"
        _answer(replies, message, text)
    return campaign


async def campaign_status(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> None:
    campaign = await _campaign(message, command, session, replies)
    if campaign is None:
        return
    language = language_of(message.from_user)
    state = await service.status(session, campaign)
    rate = state.response_rate
    counts = ", ".join(f"{k} {v}" for k, v in sorted(state.counts.items())) or t(
        "no_deliveries", language
    )
    rate_text = t("response_rate_line", language, rate=f"{rate:.1%}" if rate is not None else "—")
    text = (
        f"#{campaign.id} {campaign.name}: {status_word(campaign.status, language)}\n"
        f"{progress(state.counts, 20)}\n{counts}\n{rate_text}"
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
    language = language_of(message.from_user)
    status = status_word(campaign.status, language)
    _answer(replies, message, t("campaign_state", language, id=campaign.id, status=status))


async def surveys(message: Message, session: AsyncSession, replies: ReplyBuffer) -> None:
    language = language_of(message.from_user)
    rows = await service.surveys(session)
    anonymous = " · " + t("anonymous", language)
    lines = [f"#{s.id} {s.name} · {s.kind}{anonymous if s.anonymous else ''}" for s in rows] or [
        f"{t('no_surveys', language)} {t('new_survey_help', language)}"
    ]
    _answer(replies, message, "\n".join(lines))


async def new_survey(
    message: Message, command: CommandObject, session: AsyncSession, replies: ReplyBuffer
) -> None:
    language = language_of(message.from_user)
    usage = t("new_survey_help", language)
    words = (command.args or "").split(maxsplit=2)
    if len(words) < 2:
        _answer(replies, message, usage)
        return
    name, kind, rest = words[0], words[1].lower(), words[2] if len(words) > 2 else ""
    texts: dict[str, object] = {}
    anonymous = False
    if kind == "custom":
        texts["options"] = [option.strip() for option in rest.split(";") if option.strip()]
    elif rest.strip().lower() == "anonymous":
        anonymous = True
    elif rest.strip():
        _answer(replies, message, f"{t('unexpected', language, what=repr(rest.strip()))} {usage}")
        return
    try:
        survey = await service.create_survey(
            session, name, kind, anonymous, json.dumps(texts, ensure_ascii=False)
        )
    except service.CampaignError as exc:
        _answer(replies, message, f"{t('not_created', language, why=exc)} {usage}")
        return
    note = t("anonymous_note", language) if anonymous else ""
    created = t("survey_created", language, id=survey.id, name=survey.name, kind=kind, note=note)
    _answer(replies, message, created)


def _buttons(rows: list[list[tuple[str, str]]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(Button(text, data) for text, data in row) for row in rows)


async def wizard_start(message: Message, session: AsyncSession, replies: ReplyBuffer) -> None:
    language = language_of(message.from_user)
    available = await service.surveys(session)
    if not available:
        text = f"{t('no_surveys', language)} {t('new_survey_help', language)}"
        _answer(replies, message, text)
        return
    rows = [[(f"{s.name} ({s.kind})", WizardSurvey(s.id).pack())] for s in available[:10]]
    reply = Reply(t("wizard_survey", language), buttons=_buttons(rows))
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
    language = language_of(query.from_user)
    tapped = decode(query.data or "", WIZARD_STEPS)
    if tapped is None or isinstance(tapped, WizardCancel):
        key = "wizard_stale" if tapped is None else "wizard_cancelled"
        replies.extend(CHANNEL, chat, [Reply(t(key, language))])
        return
    assert isinstance(tapped, WizardSurvey | WizardWhen | WizardAudience | WizardCreate)
    survey = await session.get(Survey, tapped.survey_id)
    if survey is None:
        replies.extend(CHANNEL, chat, [Reply(t("wizard_stale", language))])
        return
    rows: list[list[tuple[str, str]]]
    match tapped:
        case WizardSurvey(survey_id=survey_id):
            rows = [
                [(t(f"when_{key}", language), WizardWhen(survey_id, key).pack())] for key in WHEN
            ]
            text = t("wizard_when", language, name=survey.name, zone=business_zone.key)
        case WizardWhen(survey_id=survey_id, when=when):
            rows = [
                [(t(f"who_{key}", language), WizardAudience(survey_id, when, key).pack())]
                for key in AUDIENCES
            ]
            text = t("wizard_who", language)
        case WizardAudience(survey_id=survey_id, when=when, audience=audience):
            rows = [
                [
                    (
                        t("wizard_create", language),
                        WizardCreate(survey_id, when, audience).pack(),
                    ),
                    (t("wizard_cancel", language), WizardCancel().pack()),
                ]
            ]
            when_text, who = t(f"when_{when}", language), t(f"who_{audience}", language)
            text = t("wizard_confirm", language, name=survey.name, when=when_text, who=who)
        case WizardCreate(when=when, audience=audience):
            campaign = await _create_from_wizard(
                session, survey, when, audience, clock(), business_zone, language
            )
            status = status_word(campaign.status, language)
            created = t(
                "campaign_created", language, id=campaign.id, name=campaign.name, status=status
            )
            replies.extend(CHANNEL, chat, [Reply(created)])
            return
    replies.extend(CHANNEL, chat, [Reply(text, buttons=_buttons(rows))])


async def _create_from_wizard(
    session: AsyncSession,
    survey: Survey,
    when: str,
    audience: str,
    now: datetime,
    zone: ZoneInfo,
    language: str,
) -> Campaign:
    if when in CRON:
        return await service.create_campaign(
            session,
            name=f"{survey.name} {t(f'when_{when}', language)}",
            survey_name=survey.name,
            cron=CRON[when],
            audience=AUDIENCES[audience],
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
        audience=AUDIENCES[audience],
    )


async def report(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    replies: ReplyBuffer,
    conversation: Conversation,
    tickets: TicketService,
    clock: Callable[[], datetime],
    churn_months: int,
) -> None:
    language = language_of(message.from_user)
    words = (command.args or "nps").split()
    kind = words[0].lower()
    if kind == "gaps" and len(words) == 1:
        _answer(replies, message, await _gaps(session, conversation, clock(), language))
        return
    if kind in manager.KINDS:
        period = words[1].lower() if len(words) > 1 else "week"
        if period not in PERIODS or len(words) > 2:
            _answer(replies, message, t("help", language))
            return
        ask = manager.ReportAsk(kind, by=period)
        found = await manager.build(session, ask, tickets.hours, clock(), churn_months)
        text = manager_render.TEXT[kind](found, language)
        chart = report_png(found, language)
        replies.extend(CHANNEL, str(message.chat.id), [Reply(text), Reply("", image=chart)])
        return
    by = words[1].lower() if len(words) > 1 else None
    if kind not in ("nps", "csat", "ces") or by not in (None, "week", "month"):
        _answer(replies, message, t("help", language))
        return
    rows = rows_for(kind, await score_counts(session, ReportFilter(kind=kind, by=by)))
    text = render(kind, rows, "text", language)
    if by is None:  # the chart always shows a trend: weekly unless a period was asked for
        rows = rows_for(kind, await score_counts(session, ReportFilter(kind=kind, by="week")))
    period = t(f"period_{by or 'week'}", language)
    chart = trend_png(kind, rows, t("chart_title", language, kind=kind.upper(), period=period))
    replies.extend(CHANNEL, str(message.chat.id), [Reply(text), Reply("", image=chart)])


def language_of(user: User | None) -> str:
    """The admin's app language: Russian for Russian (and neighbouring) apps, else English."""
    return from_language_code(user.language_code if user else None) or "en"


def status_word(status: str, language: str) -> str:
    key = f"status_{status}"
    return t(key, language) if has(key) else status
