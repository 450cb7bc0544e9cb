"""Working hours over the API (read only: they live in the config file's [hours]): the week,
the coming holidays, whether the business is open now and the reply target."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import Field

from bot.api.operations import Call, Operation
from bot.api.schemas import Model
from bot.web.keys import CLOCK, HOURS, SETTINGS

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


async def working_hours(call: Call) -> HoursOut:
    app = call.request.app
    hours, config = app[HOURS], app[SETTINGS].hours
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
    )


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/hours",
        "Working hours, coming holidays, open now, the reply target",
        working_hours,
        HoursOut,
    )
]
