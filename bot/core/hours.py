"""Working hours: weekly schedule in a time zone, public holidays, overnight intervals.

All arithmetic is done on aware datetimes built from local wall-clock times, so a daylight-saving
change shifts the UTC instants of an interval rather than its local hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from bot.core.texts import Refusal

if TYPE_CHECKING:
    from bot.config import HoursConfig

_SEARCH_DAYS = 400  # more than a year, so a schedule with one open day a year is still found


@dataclass(frozen=True)
class LocalInterval:
    start: time
    end: time

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class OpenSpan:
    """One concrete opening, in UTC: same-zone aware arithmetic in Python ignores DST shifts."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class HoursStatus:
    open_now: bool
    current: OpenSpan | None
    next_opening: OpenSpan | None
    today: list[OpenSpan]
    holiday_name: str | None


class HoursProblem(Refusal):
    """A bad `[hours]` value: the English text names the config key; a weekday is said as its
    name."""

    WORDS: ClassVar[dict[str, str]] = {"day": "day_"}


def _parse_interval(text: str, day: str) -> LocalInterval:
    try:
        start_text, end_text = (part.strip() for part in text.split("-"))
        start = time.fromisoformat(start_text)
        end = time(0, 0) if end_text == "24:00" else time.fromisoformat(end_text)
    except ValueError:
        raise HoursProblem(
            f"weekly.{day}: bad interval {text!r}: expected 'HH:MM-HH:MM'",
            "hours_bad_interval",
            day=day,
            interval=text[:40],
        ) from None
    if start == end and end_text != "24:00":
        raise HoursProblem(
            f"weekly.{day}: bad interval {text!r}: start equals end",
            "hours_empty_interval",
            day=day,
            interval=text[:40],
        )
    return LocalInterval(start, end)


def parse_schedule(config: HoursConfig) -> WorkingHours:
    try:
        zone = ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: unknown time zone {config.timezone!r}") from None
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    weekly: list[list[LocalInterval]] = []
    for name, intervals in zip(days, config.weekly.by_weekday(), strict=True):
        weekly.append([_parse_interval(item, name) for item in intervals])
    extra: dict[date, str] = {}
    for item in config.extra_holidays:
        day_text, _, name = item.strip().partition(" ")
        try:
            extra[date.fromisoformat(day_text)] = name.strip()[:80]
        except ValueError:
            raise HoursProblem(
                f"extra_holidays: bad date {item!r}, expected YYYY-MM-DD and a name if wanted",
                "hours_bad_holiday",
                holiday=item[:60],
            ) from None
    calendars: dict[str, holidays_lib.HolidayBase] = {}
    if config.country:
        try:
            for language, wanted in (("ru", "ru"), ("en", "en_US")):
                calendars[language] = holidays_lib.country_holidays(
                    config.country, subdiv=config.subdivision or None, language=wanted
                )
        except NotImplementedError:
            if (
                config.subdivision
                and config.country.upper() in holidays_lib.list_supported_countries()
            ):
                raise HoursProblem(
                    f"subdivision: {config.subdivision!r} is not a region of {config.country}",
                    "hours_bad_subdivision",
                    subdivision=config.subdivision,
                    country=config.country,
                ) from None
            raise HoursProblem(
                f"country: unknown country code {config.country!r}",
                "hours_bad_country",
                country=config.country,
            ) from None
    return WorkingHours(zone, weekly, calendars, extra, config.reply_target_minutes)


class WorkingHours:
    def __init__(
        self,
        zone: ZoneInfo,
        weekly: list[list[LocalInterval]],
        calendars: dict[str, holidays_lib.HolidayBase],
        extra_holidays: dict[date, str],  # day -> its name ("" for none given)
        reply_target_minutes: int,
    ) -> None:
        self.zone = zone
        self._weekly = weekly
        self._calendars = calendars  # the same days, names in each language
        self._extra = extra_holidays
        self.reply_target = timedelta(minutes=reply_target_minutes)

    def adopt(self, other: WorkingHours) -> None:
        """Take `other`'s week, holidays and reply target in place: everything holding this
        object (the conversation, tickets, SLA watch, pages) answers by them from now on. The
        zone stays: it is the file's, and what was computed in it must keep meaning the same."""
        if other.zone != self.zone:
            raise ValueError("timezone: set in the config file's [hours], not changed live")
        self._weekly = other._weekly
        self._calendars = other._calendars
        self._extra = other._extra
        self.reply_target = other.reply_target

    def holiday_name(self, day: date, language: str = "en") -> str | None:
        if day in self._extra:
            return self._extra[day] or ("праздник" if language == "ru" else "holiday")
        # Not `or`: a calendar is a dict, empty (falsy) until it lazily loads a year.
        calendar = self._calendars.get(language, self._calendars.get("en"))
        if calendar is not None and day in calendar:
            return str(calendar.get(day) or "holiday")
        return None

    def spans_starting_on(self, day: date) -> list[OpenSpan]:
        """Openings that start on `day`; an overnight one ends on the next day."""
        if self.holiday_name(day) is not None:
            return []
        spans = []
        for interval in self._weekly[day.weekday()]:
            start = datetime.combine(day, interval.start, self.zone)
            end_day = day + timedelta(days=1) if interval.overnight else day
            end = datetime.combine(end_day, interval.end, self.zone)
            spans.append(OpenSpan(start.astimezone(UTC), end.astimezone(UTC)))
        return sorted(spans, key=lambda span: span.start)

    def _spans_from(self, day: date) -> Iterator[OpenSpan]:
        for offset in range(_SEARCH_DAYS):
            yield from self.spans_starting_on(day + timedelta(days=offset))

    def status(self, now: datetime, language: str = "en") -> HoursStatus:
        utc_now = now.astimezone(UTC)
        today = now.astimezone(self.zone).date()
        current: OpenSpan | None = None
        next_opening: OpenSpan | None = None
        # Start a day early: yesterday's overnight interval may still be running.
        for span in self._spans_from(today - timedelta(days=1)):
            if span.end <= utc_now:
                continue
            if span.start <= utc_now:
                current = current or span
                continue
            next_opening = span
            break
        return HoursStatus(
            open_now=current is not None,
            current=current,
            next_opening=next_opening,
            today=self.spans_starting_on(today),
            holiday_name=self.holiday_name(today, language),
        )

    def expected_reply_by(self, now: datetime) -> datetime | None:
        """When a person should answer a message sent at `now`, counting only open time."""
        return self.deadline(now, self.reply_target)

    def deadline(self, now: datetime, target: timedelta) -> datetime | None:
        """`now` plus `target` of working time (business hours), or None if never open."""
        remaining = target
        cursor = now.astimezone(UTC)
        for span in self._spans_from(now.astimezone(self.zone).date() - timedelta(days=1)):
            if span.end <= cursor:
                continue
            start = max(span.start, cursor)
            available = span.end - start
            if available >= remaining:
                return (start + remaining).astimezone(self.zone)
            remaining -= available
            cursor = span.end
        return None
