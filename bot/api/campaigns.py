"""Surveys and campaigns over the API, with the CLI's options and rules (`bot.campaigns.service`
checks both): create, preview the audience, start, pause, resume, cancel, and the status with
counts. Reading is for every token, changing for admins."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool

from bot.api.operations import ApiError, Call, Operation
from bot.api.schemas import Model, Moment, Whole
from bot.campaigns import service
from bot.campaigns.audience import preview, skipped_of
from bot.web.keys import CLOCK, SESSION_POOL
from storage.models import Campaign, Survey
from storage.repositories.api import AuditLog

ADMIN = ("admin",)
CampaignState = Literal["draft", "scheduled", "running", "paused", "done", "cancelled"]


class SurveyIn(Model):
    name: str = Field(min_length=1, max_length=64)
    kind: Literal["nps", "csat", "ces", "custom"]
    anonymous: StrictBool = Field(default=False, description="Store no link to the customer")
    texts: dict[str, Any] = Field(
        default_factory=dict,
        description='{"question": {"ru": .., "en": ..}, "followup": {...}, "options": [..]}',
    )


class SurveyOut(Model):
    id: int
    name: str
    kind: str
    anonymous: bool
    texts: dict[str, Any]
    created_at: datetime


class SurveyList(Model):
    items: list[SurveyOut]


class Audience(Model):
    channel: str | None = Field(default=None, max_length=32)
    language: Literal["ru", "en"] | None = None
    tag: str | None = Field(default=None, max_length=64)
    first_contact_after: Moment | None = None
    first_contact_before: Moment | None = None
    has_ticket: StrictBool | None = None

    def as_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)


class CampaignIn(Model):
    name: str = Field(min_length=1, max_length=128)
    survey: str = Field(min_length=1, max_length=64, description="The survey's name")
    run_at: Moment | None = Field(default=None, description="Run once at this time")
    cron: str = Field(default="", max_length=64, description="Recurring, in the [hours] zone")
    trigger: Literal["", "first_contact", "ticket_resolved"] = ""
    delay_hours: Whole = Field(default=0, ge=0, le=24 * 365)
    audience: Audience = Field(default_factory=Audience)
    throttle_days: Whole = Field(default=30, ge=0, le=3650)
    quiet: str = Field(
        default="21:00-09:00", max_length=11, description="HH:MM-HH:MM, customer's time, or off"
    )
    reminder_hours: Whole = Field(default=0, ge=0, le=24 * 30)
    expire_hours: Whole = Field(default=72, ge=0, le=24 * 365)


class CampaignOut(Model):
    id: int
    name: str
    survey_id: int
    status: CampaignState
    schedule: Literal["once", "cron", "trigger"]
    run_at: datetime | None
    cron: str
    trigger: str
    audience: dict[str, Any]
    throttle_days: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CampaignList(Model):
    items: list[CampaignOut]


class CampaignStatusOut(CampaignOut):
    counts: dict[str, int] = Field(description="Deliveries by state: queued, sent, answered, …")
    total: int
    done: int = Field(description="Deliveries no longer queued or being sent")
    response_rate: float | None = Field(description="answered / delivered")
    skipped: dict[str, int] = Field(description="Not asked, by reason (opted_out, throttled, …)")


class PreviewIn(Model):
    audience: Audience = Field(default_factory=Audience)
    throttle_days: Whole = Field(default=30, ge=0, le=3650)


class PreviewOut(Model):
    would_ask: int
    skipped: dict[str, int] = Field(description="Would not be asked, by reason")


def _survey_out(survey: Survey) -> SurveyOut:
    return SurveyOut(
        id=survey.id,
        name=survey.name,
        kind=survey.kind,
        anonymous=survey.anonymous,
        texts=json.loads(survey.texts or "{}"),
        created_at=survey.created_at,
    )


def campaign_out(campaign: Campaign) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        survey_id=campaign.survey_id,
        status=campaign.status,  # type: ignore[arg-type]
        schedule=campaign.schedule,  # type: ignore[arg-type]
        run_at=campaign.run_at,
        cron=campaign.cron,
        trigger=campaign.trigger,
        audience=json.loads(campaign.audience or "{}"),
        throttle_days=campaign.throttle_days,
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
    )


def _refused(exc: service.CampaignError) -> ApiError:
    """The service says "field: what is wrong"; a state it cannot leave is a conflict."""
    field, _, _ = str(exc).partition(":")
    status = 409 if field in ("status", "name") else 422
    return ApiError(status, str(exc), field or None)


async def list_surveys(call: Call) -> SurveyList:
    async with call.request.app[SESSION_POOL]() as session:
        return SurveyList(items=[_survey_out(s) for s in await service.surveys(session)])


async def create_survey(call: Call) -> SurveyOut:
    body: SurveyIn = call.body
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        try:
            survey = await service.create_survey(
                session, body.name, body.kind, body.anonymous, json.dumps(body.texts)
            )
        except service.CampaignError as exc:
            raise _refused(exc) from None
        AuditLog(session).add(call.caller.actor, "survey.create", f"survey:{survey.id}")
        return _survey_out(survey)


async def list_campaigns(call: Call) -> CampaignList:
    async with call.request.app[SESSION_POOL]() as session:
        rows = await service.campaigns(session)
        return CampaignList(items=[campaign_out(c) for c in rows])


async def create_campaign(call: Call) -> CampaignOut:
    body: CampaignIn = call.body
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        try:
            campaign = await service.create_campaign(
                session,
                name=body.name,
                survey_name=body.survey,
                run_at=body.run_at,
                cron=body.cron,
                trigger=body.trigger,
                trigger_delay_hours=body.delay_hours,
                audience=body.audience.as_json(),
                throttle_days=body.throttle_days,
                quiet=body.quiet,
                reminder_hours=body.reminder_hours,
                expire_hours=body.expire_hours,
            )
        except service.CampaignError as exc:
            failed = _refused(exc)
            if failed.field == "survey":
                failed.status = 422
            raise failed from None
        AuditLog(session).add(call.caller.actor, "campaign.create", f"campaign:{campaign.id}")
        return campaign_out(campaign)


async def campaign_status(call: Call) -> CampaignStatusOut:
    async with call.request.app[SESSION_POOL]() as session:
        campaign = await session.get(Campaign, call.ids["campaign_id"])
        if campaign is None:
            raise ApiError(404, "no such campaign")
        state = await service.status(session, campaign)
        waiting = state.counts.get("queued", 0) + state.counts.get("sending", 0)
        return CampaignStatusOut(
            **campaign_out(campaign).model_dump(),
            counts=state.counts,
            total=state.total,
            done=state.total - waiting,
            response_rate=state.response_rate,
            skipped=skipped_of(campaign),
        )


def _action(action: str) -> Operation:
    async def handler(call: Call) -> CampaignOut:
        async with call.request.app[SESSION_POOL]() as session, session.begin():
            campaign = await session.get(Campaign, call.ids["campaign_id"], with_for_update=True)
            if campaign is None:
                raise ApiError(404, "no such campaign")
            try:
                if action == "start":
                    service.start_now(campaign, call.request.app[CLOCK]())
                else:
                    await service.change_state(session, campaign, action)
            except service.CampaignError as exc:
                raise _refused(exc) from None
            AuditLog(session).add(
                call.caller.actor, f"campaign.{action}", f"campaign:{campaign.id}"
            )
            return campaign_out(campaign)

    handler.__name__ = f"{action}_campaign"
    summaries = {
        "start": "Send it now (a draft or scheduled campaign): the scheduler picks it up",
        "pause": "Stop sending; what is queued waits",
        "resume": "Go on sending a paused campaign",
        "cancel": "Stop for good; nothing more is sent",
    }
    return Operation(
        "POST",
        f"/api/v1/campaigns/{{campaign_id}}/{action}",
        summaries[action],
        handler,
        CampaignOut,
        roles=ADMIN,
        errors=(404, 409),
    )


async def preview_audience(call: Call) -> PreviewOut:
    body: PreviewIn = call.body
    async with call.request.app[SESSION_POOL]() as session:
        would_ask, skipped = await preview(
            session, body.audience.as_json(), body.throttle_days, call.request.app[CLOCK]()
        )
    return PreviewOut(would_ask=would_ask, skipped=skipped)


OPERATIONS = [
    Operation("GET", "/api/v1/surveys", "Every survey, oldest first", list_surveys, SurveyList),
    Operation(
        "POST",
        "/api/v1/surveys",
        "A survey: NPS, CSAT, CES or custom options, with its texts",
        create_survey,
        SurveyOut,
        roles=ADMIN,
        body=SurveyIn,
        status=201,
        errors=(400, 409, 413),
    ),
    Operation(
        "GET", "/api/v1/campaigns", "Every campaign, oldest first", list_campaigns, CampaignList
    ),
    Operation(
        "POST",
        "/api/v1/campaigns",
        "A campaign: a draft, or scheduled by run_at, cron or trigger",
        create_campaign,
        CampaignOut,
        roles=ADMIN,
        body=CampaignIn,
        status=201,
        errors=(400, 413),
    ),
    Operation(
        "POST",
        "/api/v1/campaigns/preview",
        "How many an audience would reach now, and why the rest would not be asked",
        preview_audience,
        PreviewOut,
        body=PreviewIn,
        errors=(400, 413),
    ),
    Operation(
        "GET",
        "/api/v1/campaigns/{campaign_id}",
        "A campaign with its delivery counts, progress and response rate",
        campaign_status,
        CampaignStatusOut,
        errors=(404,),
    ),
    *(_action(action) for action in ("start", "pause", "resume", "cancel")),
]
