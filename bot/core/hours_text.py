"""Working-hours answers in the customer's language."""

from __future__ import annotations

from datetime import datetime

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
