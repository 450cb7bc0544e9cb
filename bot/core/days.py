"""The days a report or a page may be asked about: a wide, finite range, so that a day's
bounds (midnight, the next midnight, in any time zone) always exist. 0001-01-01 has no day
before it and 9999-12-31 no day after: asked for, they made a 500."""

from __future__ import annotations

from datetime import date

FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def parse_day(text: str) -> date | None:
    """YYYY-MM-DD within FIRST_DAY..LAST_DAY; None for anything else."""
    if len(text) != 10:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None
