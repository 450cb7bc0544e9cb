"""The console's surveys and campaigns: the CLI's options in a form, the audience counted
before anything is sent, start/pause/resume/cancel, and progress that updates while the
campaign goes out (a small script polls the progress JSON; the page works without it)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns import service
from bot.campaigns.audience import SKIP_REASONS, preview, skipped_of
from bot.core.texts import channel_word, people, t, words
from bot.core.untrusted import parse_id
from bot.inbox import auth
from bot.inbox.pages import CHANNELS, page, routes, see_other, signed_in_only
from bot.inbox.texts import language_of
from bot.web.keys import CLOCK, HOURS, SESSION_POOL
from storage.models import Campaign, Survey
from storage.repositories.api import AuditLog

ACTIONS = ("start", "pause", "resume", "cancel")
# Which buttons a campaign in each state shows.
OFFERED = {
    "draft": ("start", "cancel"),
    "scheduled": ("start", "pause", "cancel"),
    "running": ("pause", "cancel"),
    "paused": ("resume", "cancel"),
}


def _audience(form: MultiMapping[Any]) -> dict[str, Any]:
    """The audience filters a form names, as the campaign stores them."""
    audience: dict[str, Any] = {}
    channel = str(form.get("channel", ""))
    if channel in CHANNELS:
        audience["channel"] = channel
    language = str(form.get("language", ""))
    if language in ("ru", "en"):
        audience["language"] = language
    tag = str(form.get("tag", "")).strip()[:64]
    if tag:
        audience["tag"] = tag
    has_ticket = str(form.get("has_ticket", ""))
    if has_ticket in ("yes", "no"):
        audience["has_ticket"] = has_ticket == "yes"
    return audience


def _number(form: MultiMapping[Any], name: str, default: int) -> int:
    text = str(form.get(name, "")).strip()
    return min(int(text), 3650) if text.isascii() and text.isdigit() else default


def progress_of(state: service.CampaignStatus) -> dict[str, Any]:
    waiting = state.counts.get("queued", 0) + state.counts.get("sending", 0)
    done = state.total - waiting
    rate = state.response_rate
    return {
        "status": state.campaign.status,
        "counts": state.counts,
        "total": state.total,
        "done": done,
        "percent": round(100 * done / state.total) if state.total else 0,
        "answered": state.counts.get("answered", 0),
        "response_rate": None if rate is None else round(100 * rate, 1),
    }


async def _list(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    return await _render(request, signed, {}, None)


async def _counted(request: web.Request, form: MultiMapping[Any]) -> tuple[int, dict[str, int]]:
    """How many customers the form's audience reaches today, and how many it skips, why."""
    async with request.app[SESSION_POOL]() as session:
        return await preview(
            session,
            json.dumps(_audience(form)),
            _number(form, "throttle_days", 30),
            request.app[CLOCK](),
        )


async def _preview(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    """The new-campaign form counted against today's audience, and shown again as filled."""
    form = await request.post()
    asked, skipped = await _counted(request, form)
    previewed = {"asked": asked, "skipped": [(r, skipped[r]) for r in SKIP_REASONS if r in skipped]}
    kept = {k: str(v) for k, v in form.items() if k != "csrf"}
    return await _render(request, signed, kept, previewed)


async def _render(
    request: web.Request,
    signed: auth.Signed,
    form: dict[str, str],
    previewed: dict[str, Any] | None,
    confirm: int | None = None,
) -> web.StreamResponse:
    rows: list[dict[str, Any]] = []
    async with request.app[SESSION_POOL]() as session:
        surveys = list(await service.surveys(session))
        names = {s.id: s.name for s in surveys}
        campaigns = await service.campaigns(session, newest_first=True)
        for campaign in campaigns:
            state = await service.status(session, campaign)
            rows.append(
                {
                    "campaign": campaign,
                    "survey": names.get(campaign.survey_id, "?"),
                    "progress": progress_of(state),
                    "actions": OFFERED.get(campaign.status, ()),
                }
            )
    return page(
        request,
        "admin_campaigns.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "rows": rows,
            "surveys": surveys,
            "channels": [(c, channel_word(c, language_of(request))) for c in CHANNELS],
            "form": form,
            "previewed": previewed,
            "confirm_people": None if confirm is None else people(confirm, language_of(request)),
            "flash": request.query.get("error", "")[:300] or _done(request),
            "flash_error": bool(request.query.get("error")),
        },
    )


# ?done= after an action -> the text that says what it did
DONE = {
    "created": "done_campaign_created",
    "survey_created": "done_survey_created",
    **{action: f"done_campaign_{action}" for action in ACTIONS},
}


def _done(request: web.Request) -> str:
    """What the action that led here did, in the page's language."""
    key = DONE.get(request.query.get("done", ""))
    return t(key, language_of(request)) if key else ""


async def _create(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    form = await request.post()
    now = request.app[CLOCK]()
    when = str(form.get("when", "now"))
    if when == "now" and form.get("confirmed") != "yes":
        return await _ask_first(request, signed, form)
    try:
        run_at = _local_moment(str(form.get("run_at", "")), request) if when == "at" else None
        async with request.app[SESSION_POOL]() as session, session.begin():
            campaign = await service.create_campaign(
                session,
                name=str(form.get("name", "")).strip()[:128] or "campaign",
                survey_name=str(form.get("survey", "")),
                run_at=run_at,
                cron=str(form.get("cron", "")).strip()[:64] if when == "cron" else "",
                trigger=str(form.get("trigger", ""))[:32] if when == "trigger" else "",
                trigger_delay_hours=_number(form, "delay_hours", 0) if when == "trigger" else 0,
                audience=json.dumps(_audience(form)),
                throttle_days=_number(form, "throttle_days", 30),
                quiet=str(form.get("quiet", "21:00-09:00")).strip()[:11] or "off",
                reminder_hours=_number(form, "reminder_hours", 0),
                expire_hours=_number(form, "expire_hours", 72),
            )
            if when == "now":
                service.start_now(campaign, now)
            AuditLog(session).add(
                f"staff:{signed.login}", "campaign.create", f"campaign:{campaign.id}"
            )
    except service.CampaignError as exc:
        raise see_other(_with_error("/admin/campaigns", exc.said(language_of(request)))) from None
    raise see_other(f"/admin/campaigns/{campaign.id}?done=created")


async def _ask_first(
    request: web.Request, signed: auth.Signed, form: MultiMapping[Any]
) -> web.StreamResponse:
    """Sending now to everyone the audience holds is asked first, with how many that is."""
    asked, _ = await _counted(request, form)
    kept = {k: str(v) for k, v in form.items() if k not in ("csrf", "confirmed")}
    return await _render(request, signed, kept, None, confirm=asked)


def _local_moment(text: str, request: web.Request) -> datetime:
    """A datetime-local field ("2026-12-24T10:00"), in the business's time zone."""
    try:
        moment = datetime.fromisoformat(text.strip()[:32])
    except ValueError:
        raise service.CampaignError("run_at: a date and time, YYYY-MM-DDTHH:MM") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=request.app[HOURS].zone)


def _with_error(path: str, message: str) -> str:
    return f"{path}?{urlencode({'error': message})}"


async def _create_survey(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    form = await request.post()
    try:
        async with request.app[SESSION_POOL]() as session, session.begin():
            survey = await service.create_survey(
                session,
                str(form.get("name", "")).strip()[:64],
                str(form.get("kind", "")),
                form.get("anonymous") == "on",
                "{}",
            )
            AuditLog(session).add(f"staff:{signed.login}", "survey.create", f"survey:{survey.id}")
    except service.CampaignError as exc:
        raise see_other(_with_error("/admin/campaigns", exc.said(language_of(request)))) from None
    raise see_other("/admin/campaigns?done=survey_created")


async def _campaign_or_404(session: AsyncSession, request: web.Request) -> Campaign:
    campaign_id = parse_id(request.match_info["campaign_id"])
    campaign = await session.get(Campaign, campaign_id) if campaign_id else None
    if campaign is None:
        raise web.HTTPNotFound(text="no such campaign")
    return campaign


async def _campaign(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    async with request.app[SESSION_POOL]() as session:
        campaign = await _campaign_or_404(session, request)
        survey = await session.get(Survey, campaign.survey_id)
        state = await service.status(session, campaign)
        reach = None
        if campaign.status in ("draft", "scheduled", "paused"):
            reach, _ = await preview(
                session, campaign.audience or "{}", campaign.throttle_days, request.app[CLOCK]()
            )
    language = words(language_of(request))
    skipped = skipped_of(campaign)
    return page(
        request,
        "admin_campaign.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "campaign": campaign,
            "survey": survey.name if survey else "?",
            "audience": json.loads(campaign.audience or "{}"),
            "progress": progress_of(state),
            "actions": OFFERED.get(campaign.status, ()),
            "reach": None if reach is None else people(reach, language_of(request)),
            "skipped": [(language[f"skip_{r}"], skipped[r]) for r in SKIP_REASONS if r in skipped],
            "flash": request.query.get("error", "")[:300] or _done(request),
            "flash_error": bool(request.query.get("error")),
        },
    )


async def _progress(request: web.Request, _signed: auth.Signed) -> web.StreamResponse:
    async with request.app[SESSION_POOL]() as session:
        state = await service.status(session, await _campaign_or_404(session, request))
    return web.json_response(progress_of(state), headers={"Cache-Control": "no-store"})


async def _act(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    campaign_id = parse_id(request.match_info["campaign_id"])
    action = request.match_info["action"]
    if campaign_id is None or action not in ACTIONS:
        raise web.HTTPNotFound(text="no such action")
    back = f"/admin/campaigns/{campaign_id}"
    try:
        async with request.app[SESSION_POOL]() as session, session.begin():
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None:
                raise web.HTTPNotFound(text="no such campaign")
            if action == "start":
                service.start_now(campaign, request.app[CLOCK]())
            else:
                await service.change_state(session, campaign, action)
            AuditLog(session).add(
                f"staff:{signed.login}", f"campaign.{action}", f"campaign:{campaign.id}"
            )
    except service.CampaignError as exc:
        raise see_other(_with_error(back, exc.said(language_of(request)))) from None
    raise see_other(f"{back}?done={action}")


routes.get("/admin/campaigns")(signed_in_only(_list, role="admin"))
routes.post("/admin/campaigns/preview")(signed_in_only(_preview, role="admin"))
routes.post("/admin/campaigns/new")(signed_in_only(_create, role="admin"))
routes.post("/admin/surveys/new")(signed_in_only(_create_survey, role="admin"))
routes.get("/admin/campaigns/{campaign_id}")(signed_in_only(_campaign, role="admin"))
routes.get("/admin/campaigns/{campaign_id}/progress")(signed_in_only(_progress, role="admin"))
routes.post("/admin/campaigns/{campaign_id}/{action}")(signed_in_only(_act, role="admin"))
