"""A figure beside the same figure for the previous period, and the summaries reply times are
given in (median, 90th percentile, mean), defined here once so every report agrees."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return round(self.value - self.previous, 1)

    @property
    def change_percent(self) -> float | None:
        """Relative change; None from zero (a rise from nothing has no percentage)."""
        if self.value is None or not self.previous:
            return None
        return round(100 * (self.value - self.previous) / abs(self.previous), 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "previous": self.previous,
            "change": self.change,
            "change_percent": self.change_percent,
        }


def median(values: Sequence[float]) -> float | None:
    """The middle value; of an even count, the mean of the two middle ones."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest rank: the smallest value with at least `share` of the values at or below it
    (p90 of ten values is the ninth smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def share(part: int, whole: int) -> float | None:
    """A percentage with one decimal; None of nothing."""
    return round(100 * part / whole, 1) if whole else None


def minutes(seconds: Sequence[float]) -> dict[str, float | None]:
    """Median, p90 and mean of durations, in minutes with one decimal."""
    return in_minutes(len(seconds), median(seconds), percentile(seconds, 0.9), mean(seconds))


def in_minutes(
    n: int, median_s: float | None, p90_s: float | None, mean_s: float | None
) -> dict[str, float | None]:
    """How every report shows a count and its median, p90 and mean seconds: minutes, one
    decimal."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value / 60, 1)

    return {"n": n, "median": rounded(median_s), "p90": rounded(p90_s), "mean": rounded(mean_s)}


@dataclass(frozen=True)
class NpsChange:
    """Two NPS figures and whether their difference means anything: only when it exceeds the
    combined 95 % margin, √(m₁² + m₂²) (the two samples are independent)."""

    change: float | None
    combined_margin: float | None

    @property
    def significant(self) -> bool:
        return (
            self.change is not None
            and self.combined_margin is not None
            and abs(self.change) > self.combined_margin
        )


def nps_change(
    score: float | None, margin: float | None, before: float | None, before_margin: float | None
) -> NpsChange:
    if None in (score, margin, before, before_margin):
        return NpsChange(None, None)
    assert score is not None and margin is not None
    assert before is not None and before_margin is not None
    return NpsChange(round(score - before, 1), round(math.hypot(margin, before_margin), 1))
