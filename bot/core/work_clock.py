"""Working time between two instants, by the `[hours]` calendar (weekly hours, holidays,
daylight-saving changes): the open seconds of every day in a range, summed once, so each
duration is two binary searches however many tickets are measured. A ticket's reply and
resolution times are measured when they happen and kept on it (the reports add them up)."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta

from bot.core.hours import WorkingHours


class WorkClock:
    def __init__(self, hours: WorkingHours, earliest: datetime, latest: datetime) -> None:
        day = earliest.astimezone(hours.zone).date() - timedelta(days=1)
        end = latest.astimezone(hours.zone).date() + timedelta(days=1)
        spans: list[tuple[float, float]] = []
        while day <= end:
            for span in hours.spans_starting_on(day):
                start, stop = span.start.timestamp(), span.end.timestamp()
                if spans and start <= spans[-1][1]:  # overlapping or touching: one span
                    spans[-1] = (spans[-1][0], max(stop, spans[-1][1]))
                else:
                    spans.append((start, stop))
            day += timedelta(days=1)
        self._starts = [start for start, _ in spans]
        self._lengths = [stop - start for start, stop in spans]
        self._before: list[float] = []  # open seconds before each span starts
        total = 0.0
        for length in self._lengths:
            self._before.append(total)
            total += length

    def _open_until(self, moment: datetime) -> float:
        at = moment.astimezone(UTC).timestamp()
        index = bisect_right(self._starts, at) - 1
        if index < 0:
            return 0.0
        return self._before[index] + min(at - self._starts[index], self._lengths[index])

    def seconds(self, start: datetime, end: datetime) -> float:
        """Open seconds from `start` to `end` (0 when end is not after start)."""
        return max(self._open_until(end) - self._open_until(start), 0.0)


def working_seconds(hours: WorkingHours, start: datetime, end: datetime) -> float:
    """Open seconds from `start` to `end` by `hours`, for one pair of instants."""
    return WorkClock(hours, start, end).seconds(start, end)
