"""Working-hours answers in the customer's language."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from bot.core.hours import WorkingHours
from bot.core.texts import t, weekday_name


def format_moment(
    moment: datetime, now: datetime, hours: WorkingHours, language: str, *, deadline: bool = False
) -> str:
    """'today at 09:00', 'on Monday at 09:00' (with a date if a week away or more); a deadline
    reads '13:00 on Monday' so it follows 'by' naturally."""
    local = moment.astimezone(hours.zone)
    today = now.astimezone(hours.zone).date()
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    prefix = "by_" if deadline else ""
    if days == 0:
        return t(f"{prefix}today", language, time=clock)
    if days == 1:
        return t(f"{prefix}tomorrow", language, time=clock)
    day = weekday_name(local.weekday(), language)
    if days >= 7:
        day = f"{day} {local.strftime('%d.%m')}"
    return t(f"{prefix}on_day", language, day=day, time=clock)


def describe_hours(hours: WorkingHours, now: datetime, language: str) -> str:
    status = hours.status(now, language)
    lines: list[str] = []
    if status.open_now and status.current is not None:
        until = format_moment(status.current.end, now, hours, language, deadline=True)
        lines.append(t("hours_open", language, until=until))
    else:
        lines.append(t("hours_closed", language))
        if status.next_opening is not None:
            opening = format_moment(status.next_opening.start, now, hours, language)
            lines.append(t("hours_next", language, opening=opening))
    if status.holiday_name:
        lines.append(t("hours_holiday", language, name=status.holiday_name))
    if status.today:
        spans = ", ".join(
            f"{s.start.astimezone(hours.zone):%H:%M}–{s.end.astimezone(hours.zone):%H:%M}"
            for s in status.today
        )
        lines.append(t("hours_today", language, spans=spans))
    elif not status.holiday_name:
        lines.append(t("hours_today_closed", language))
    lines.append(t("hours_zone", language, zone=hours.zone.key))
    return "\n".join(lines)


def expectation(
    hours: WorkingHours, now: datetime, language: str, reply_by: datetime | None = None
) -> tuple[str, datetime | None]:
    """The honest 'when will a person answer' line, and the moment it promises (by default the
    configured reply target; a ticket passes its own SLA due time)."""
    reply_by = reply_by or hours.expected_reply_by(now)
    if reply_by is None:
        return t("expect_unknown", language), None
    status = hours.status(now)
    by_text = format_moment(reply_by, now, hours, language, deadline=True)
    if status.open_now:
        return t("expect_open", language, time=by_text), reply_by
    opening = status.next_opening.start if status.next_opening else reply_by
    opening_text = format_moment(opening, now, hours, language)
    return t("expect_closed", language, opening=opening_text, time=by_text), reply_by


# Word beginnings that name a day in a question about hours: "в субботу", "по средам", "on
# sundays", "сб". A weekday is the hours intent's one parameter, not part of its phrasing.
_DAY_STEMS = (
    ("понедельн", "monday", "пн", "mon"),
    ("вторн", "tuesday", "вт", "tue"),
    ("сред", "wednesday", "ср", "wed"),
    ("четверг", "thursday", "чт", "thu"),
    ("пятниц", "friday", "пт", "fri"),
    ("суббот", "saturday", "сб", "sat"),
    ("воскресен", "sunday", "вс", "sun"),
)
_WEEKEND = ("выходн", "weekend")
# Asked for the hours themselves ("what are your working hours?", "режим работы"), not whether
# we are open now: the whole week is the answer.
_WEEK = ("недел", "week", "расписан", "schedule", "график", "hour", "час", "режим")
_TOMORROW = ("завтра", "tomorrow")
_WORD = re.compile(r"[^\W\d_]+")


def _weekday_of(word: str) -> int | None:
    for weekday, (ru, en, ru_short, en_short) in enumerate(_DAY_STEMS):
        if word in (ru_short, en_short) or word.startswith((ru, en)):
            if ru == "сред" and word.startswith("сред") and len(word) > 6:
                continue  # "среди", "средний": not Wednesday
            return weekday
    return None


def is_day_word(word: str) -> bool:
    """A word that only names which day is asked about."""
    word = word.lower().replace("ё", "е")
    return (
        _weekday_of(word) is not None
        or word.startswith(_WEEKEND)
        or word.startswith(_TOMORROW)
        or word in ("weekends", "weekdays")
    )


def asked_days(text: str, today: date) -> list[date] | None:
    """The days a question about hours names: a weekday (the next one), tomorrow, the weekend
    or the whole week; None when it names none (then the answer is about now)."""
    words = [w.lower().replace("ё", "е") for w in _WORD.findall(text)]
    if any(w.startswith(_WEEK) for w in words) and not any(_weekday_of(w) for w in words):
        return [today + timedelta(days=n) for n in range(7)]
    days: list[date] = []
    for word in words:
        weekday = _weekday_of(word)
        if weekday is not None:
            days.append(today + timedelta(days=(weekday - today.weekday()) % 7))
        elif word.startswith(_TOMORROW):
            days.append(today + timedelta(days=1))
        elif word.startswith(_WEEKEND):
            saturday = today + timedelta(days=(5 - today.weekday()) % 7)
            days.extend([saturday, saturday + timedelta(days=1)])
    return sorted(set(days)) or None


def describe_days(hours: WorkingHours, days: list[date], now: datetime, language: str) -> str:
    """One line a day: "суббота, 05.12: 10:00–16:00", "closed", or the holiday's name."""
    today = now.astimezone(hours.zone).date()
    lines = []
    for day in days:
        name = weekday_name(day.weekday(), language)
        if day == today:
            name = t("today_word", language)
        label = f"{name[:1].upper()}{name[1:]}, {day:%d.%m}"
        holiday = hours.holiday_name(day, language)
        spans = hours.spans_starting_on(day)
        if spans:
            text = ", ".join(
                f"{s.start.astimezone(hours.zone):%H:%M}–{s.end.astimezone(hours.zone):%H:%M}"
                for s in spans
            )
        elif holiday:
            text = t("day_holiday", language, name=holiday)
        else:
            text = t("day_closed", language)
        lines.append(f"{label}: {text}")
    lines.append(t("hours_zone", language, zone=hours.zone.key))
    return "\n".join(lines)
