"""Print the moved clock for the date guard: next year's last Sunday of March (the EU switches
to summer time that day at 01:00 UTC), a few minutes before the switch, so the run crosses it
more than a year from today."""

from __future__ import annotations

from datetime import date, timedelta


def guard_moment(today: date) -> str:
    year = today.year + 2 if today.month >= 3 else today.year + 1
    last = date(year, 3, 31)
    sunday = last - timedelta(days=(last.weekday() - 6) % 7)
    return f"{sunday.isoformat()} 00:58:00"


if __name__ == "__main__":
    print(guard_moment(date.today()))
