"""Times read as exact microseconds since the epoch, computed by the database: turning SQLite's
stored text into datetimes row by row was most of what a large report cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, cast, func

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(column: Any, dialect: str) -> Any:
    """An expression: `column` (a UTC timestamp) as microseconds since the epoch."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", column) * 1_000_000, BigInteger)
    # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC (julianday would round to ~50 µs).
    return cast(func.strftime("%s", column), Integer) * 1_000_000 + cast(
        func.substr(column, 21, 6), Integer
    )


def moment(micros: object) -> datetime | None:
    return None if micros is None else EPOCH + timedelta(microseconds=int(micros))  # type: ignore[call-overload]
