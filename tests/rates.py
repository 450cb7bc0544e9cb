"""Rates as a platform counts them: at most so many sends in any sliding second (what the fakes
enforce), and the most that a list of send times put in one second (what tests and benches
check)."""

from __future__ import annotations

import time
from collections import deque


class SlidingSecond:
    """At most `limit` sends in any second, as the platform counts them; None is no limit."""

    def __init__(self, limit: float | None = None) -> None:
        self.limit = limit
        self.refused = 0
        self._times: deque[float] = deque()

    def over(self) -> bool:
        if self.limit is None:
            return False
        now = time.monotonic()
        while self._times and self._times[0] <= now - 1.0:
            self._times.popleft()
        if len(self._times) >= self.limit:
            self.refused += 1
            return True
        self._times.append(now)
        return False


def max_in_a_second(times: list[float], window: float = 1.0) -> int:
    """The most sends in any sliding window of these times (seconds)."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
