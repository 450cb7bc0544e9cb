"""Survey metrics exactly as docs/metrics.md defines them. Pure functions over counts, so the same
numbers come out whether SQL or Python did the counting."""

from __future__ import annotations

import math
from dataclasses import dataclass

LOW_CONFIDENCE_N = 30


@dataclass(frozen=True)
class Nps:
    n: int
    promoters: int
    detractors: int
    score: float | None  # -100..100; None without answers
    margin: float | None  # 95% margin of error, in NPS points

    @property
    def passives(self) -> int:
        return self.n - self.promoters - self.detractors

    @property
    def low_confidence(self) -> bool:
        return self.n < LOW_CONFIDENCE_N


def nps(promoters: int, detractors: int, n: int) -> Nps:
    """P = answers 9-10, D = answers 0-6, N = scored answers (skips excluded)."""
    if n <= 0:
        return Nps(0, 0, 0, None, None)
    p, d = promoters / n, detractors / n
    score = 100 * (p - d)
    margin = 1.96 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n) * 100
    return Nps(n, promoters, detractors, score, margin)


@dataclass(frozen=True)
class Csat:
    n: int
    satisfied: int
    percent: float | None  # share of 4-5 on the 1-5 scale


def csat(satisfied: int, n: int) -> Csat:
    return Csat(n, satisfied, 100 * satisfied / n if n else None)


@dataclass(frozen=True)
class Ces:
    n: int
    mean: float | None  # 1-7, 7 = very easy
    agree_percent: float | None  # share of 5-7


def ces(total: int, agree: int, n: int) -> Ces:
    if n <= 0:
        return Ces(0, None, None)
    return Ces(n, total / n, 100 * agree / n)
