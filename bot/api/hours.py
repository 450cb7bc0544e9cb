"""Working hours over the API: the week, the coming holidays, whether the business is open now
and the reply target; an admin changes them as the console does (stored in SQL over the
config file's [hours], applied without a restart, audited)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import Field

from bot.api.operations import ApiError, Call, Operation
from bot.api.schemas import Model
from bot.web.keys import CLOCK, LIVE_HOURS

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY_HORIZON_DAYS = 90


class Holiday(Model):
    date: date
    name: str


class HoursOut(Model):
    timezone: str
    weekly: dict[str, list[str]] = Field(description='Local intervals per day, "09:00-18:00"')
    open_now: bool
    open_until: datetime | None = Field(description="When the current opening ends")
    next_opening: datetime | None
    holidays: list[Holiday] = Field(description=f"The next {HOLIDAY_HORIZON_DAYS} days")
    reply_target_minutes: int = Field(description="Working minutes to a first reply")
    country: str = Field(description="Whose public holidays count; empty for none")
    subdivision: str
    extra_holidays: list[str] = Field(description='Days off of the business: "2026-12-31 Name"')


class HoursIn(Model):
    """What to change; a key left out keeps its value."""

    weekly: dict[str, list[str]] | None = Field(
        None, description='Local intervals per day (mon..sun), "09:00-18:00"; [] for closed'
    )
    reply_target_minutes: int | None = Field(None, ge=1, le=43200)
    country: str | None = Field(None, max_length=8)
    subdivision: str | None = Field(None, max_length=8)
    extra_holidays: list[str] | None = Field(None, max_length=200)


async def working_hours(call: Call) -> HoursOut:
    app = call.request.app
    live = app[LIVE_HOURS]
    hours, config = live.hours, live.config
    now = app[CLOCK]()
    state = hours.status(now)
    today = now.astimezone(hours.zone).date()
    holidays = []
    for offset in range(HOLIDAY_HORIZON_DAYS):
        day = today + timedelta(days=offset)
        name = hours.holiday_name(day)
        if name is not None:
            holidays.append(Holiday(date=day, name=name))
    return HoursOut(
        timezone=str(hours.zone),
        weekly=dict(zip(DAYS, config.weekly.by_weekday(), strict=True)),
        open_now=state.open_now,
        open_until=state.current.end if state.current else None,
        next_opening=state.next_opening.start if state.next_opening else None,
        holidays=holidays,
        reply_target_minutes=config.reply_target_minutes,
        country=config.country,
        subdivision=config.subdivision,
        extra_holidays=config.extra_holidays,
    )


async def change_hours(call: Call) -> HoursOut:
    body: HoursIn = call.body
    edits = body.model_dump(exclude_none=True)
    if "weekly" in edits:  # a day left out keeps its intervals
        current = call.request.app[LIVE_HOURS].config.weekly
        edits["weekly"] = {
            day: edits["weekly"].get(day, intervals)
            for day, intervals in zip(DAYS, current.by_weekday(), strict=True)
        } | {k: v for k, v in edits["weekly"].items() if k not in DAYS}
    try:
        await call.request.app[LIVE_HOURS].save(edits, call.caller.actor)
    except ValueError as exc:  # named as every other invalid field is: a 422 with the key
        key = str(exc).split(":", 1)[0].split(".", 1)[0]
        raise ApiError(422, str(exc), key if key in HoursIn.model_fields else None) from None
    return await working_hours(call)


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/hours",
        "Working hours, coming holidays, open now, the reply target",
        working_hours,
        HoursOut,
    ),
    Operation(
        "PATCH",
        "/api/v1/hours",
        "Change the week, the reply target or the holidays; applied at once, no restart",
        change_hours,
        HoursOut,
        roles=("admin",),
        body=HoursIn,
        errors=(400,),  # a body that is not JSON
    ),
]
