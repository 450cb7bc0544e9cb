"""Argument types the command groups share: a day, a moment."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime


def day(text: str) -> date:
    """YYYY-MM-DD, or argparse's own error naming the bad value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def moment(text: str) -> datetime:
    """An ISO time; UTC when it names no zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (YYYY-MM-DDTHH:MM[+03:00])"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
