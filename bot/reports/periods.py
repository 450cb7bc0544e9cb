"""Report windows in the business's time zone: a range of days, the same length just before it
(what every figure is compared with), and the period (day, week, month, quarter, year) an
instant falls in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIODS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Window:
    """[since, until): whole days in `zone`."""

    first: date
    last: date  # inclusive
    zone: ZoneInfo

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Window:
        """As many days, ending the day before this one starts; a whole calendar month is
        compared with the whole month before it."""
        if self.first.day == 1 and (self.last + timedelta(days=1)).day == 1:
            last = self.first - timedelta(days=1)
            months = (self.last.year - self.first.year) * 12 + self.last.month - self.first.month
            year, month = last.year, last.month - months
            while month < 1:
                year, month = year - 1, month + 12
            return Window(date(year, month, 1), last, self.zone)
        return Window(
            self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.zone
        )

    def holds(self, moment: datetime) -> bool:
        return self.since <= moment < self.until

    def as_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "zone": str(self.zone)}


EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
MAX_DAYS = 3 * 366  # a report reads every row of its window and the one before


class WindowError(ValueError):
    """Days a report cannot cover; the message says why (a 422, a CLI error)."""


def window(first: date | None, last: date | None, zone: ZoneInfo, today: date) -> Window:
    """The days asked for; by default the last 30 days up to today (or the 30 from `first`
    when only it is given)."""
    if first is not None and last is None:
        last = max(min(first + timedelta(days=29), today), first)
    last = last or today
    first = first or last - timedelta(days=29)
    if first > last:
        raise WindowError("the first day is after the last")
    if first < EARLIEST or last > LATEST:
        raise WindowError(f"days from {EARLIEST} to {LATEST}")
    if (last - first).days + 1 > MAX_DAYS:
        raise WindowError(f"at most {MAX_DAYS} days at once")
    return Window(first, last, zone)


def period_of(moment: datetime, by: str, zone: ZoneInfo) -> str:
    """The period label: 2026-11-03 (day), 2026-11-02 (the week's Monday), 2026-11, 2026-Q4,
    2026."""
    day = moment.astimezone(zone).date()
    if by == "day":
        return day.isoformat()
    if by == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if by == "month":
        return f"{day:%Y-%m}"
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def spans(window: Window, by: str) -> list[tuple[str, datetime, datetime]]:
    """The periods the window's days fall in, each as (label, since, until) cut to the window:
    the database counts between these bounds, so a period means the same on SQLite and
    PostgreSQL, across the daylight-saving change too."""
    found: list[tuple[str, datetime, datetime]] = []
    day = window.first
    while day <= window.last:
        start = datetime.combine(day, time(), window.zone)
        label = period_of(start, by, window.zone)
        if found and found[-1][0] == label:
            found[-1] = (label, found[-1][1], start + timedelta(days=1))
        else:
            found.append((label, start, start + timedelta(days=1)))
        day += timedelta(days=1)
    # The day after, in the zone: an aware datetime plus a day keeps the wall time.
    return [
        (label, since, datetime.combine(until.date(), time(), window.zone))
        for label, since, until in found
    ]
