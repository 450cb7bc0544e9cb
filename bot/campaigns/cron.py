"""Crontab expressions as people write them. APScheduler 3 counts weekdays from Monday = 0,
while crontab counts from Sunday = 0 (and 7); this translates the day-of-week field."""

from __future__ import annotations

from datetime import UTC, tzinfo

from apscheduler.triggers.cron import CronTrigger


def _weekday(number: int) -> str:
    return str((number + 6) % 7)  # crontab 1 (Monday) -> 0; 0 and 7 (Sunday) -> 6


def _day_of_week(field: str) -> str:
    parts: list[str] = []
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            if not step_text:
                return "*"
            base = "0-6"
        if base[:1].isdigit():
            first, _, last = base.partition("-")
            numbers = range(int(first), int(last or first) + 1, step)
            parts.extend(_weekday(n) for n in numbers)
        else:
            parts.append(part)  # names (mon-fri) mean the same in both
    return ",".join(dict.fromkeys(parts))


def crontab_trigger(expression: str, zone: tzinfo = UTC) -> CronTrigger:
    """A trigger whose hours are `zone`'s wall clock (the business's `[hours] timezone`: "10:00
    on Mondays" stays 10:00 across daylight saving); raises ValueError naming what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_day_of_week(weekday),
            timezone=zone,
        )
    except ValueError as exc:
        raise ValueError(str(exc)) from None
