"""The loops that finish what a crash or an outage left behind, shared by every durable queue.

A background loop must never die: a task that ends takes its queue with it until a restart, and
asyncio says nothing about a task nobody awaits. Every failure is logged (at most once per
`LogThrottle.interval` for the same kind) and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from storage.db import DB_ERRORS


class LogThrottle:
    """Log the same kind of failure at most once per `interval` seconds, with how many were
    suppressed: an outage should not write a line per row per tick."""

    def __init__(self, log: logging.Logger, interval: float = 30.0) -> None:
        self._log = log
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        last, suppressed = self._last.get(key, (-float("inf"), 0))
        if now - last < self.interval:
            self._last[key] = (last, suppressed + 1)
            return
        self._last[key] = (now, 0)
        if suppressed:
            message += f" ({suppressed} more like this since the last report)"
        self._log.warning(message, *args, exc_info=exc_info)


async def recovery_loop(
    recover: Callable[[float], Awaitable[int]],
    interval: float,
    what: str,
    log: logging.Logger,
    stop: asyncio.Event | None = None,
    sooner: Callable[[], float | None] | None = None,
) -> None:
    """At start-up take everything pending; afterwards only what has waited `interval` (the
    rest is still in the hands of its own task). With `stop`, the loop ends when it is set,
    between passes: a cancel landing in the middle of a query can leave the driver's
    connection half closed. `sooner`: seconds until work held elsewhere is free (a lease
    expiring), when that comes before `interval`."""
    throttle = LogThrottle(log)
    first = True
    while stop is None or not stop.is_set():
        try:
            count = await recover(0.0 if first else interval)
            if count:
                log.info("resumed %d %s", count, what)
            first = False
        except DB_ERRORS:
            throttle.warning("db", "database unavailable; %s will be retried", what)
        except Exception:
            throttle.warning("bug", "recovering %s failed; will retry", what, exc_info=True)
        wait = interval
        if sooner is not None and (soon := sooner()) is not None:
            wait = min(interval, max(soon, 0.05))
        if stop is None:
            await asyncio.sleep(wait)
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await stop.wait()


async def periodic(
    work: Callable[[], Awaitable[object]],
    interval: Callable[[], float],
    what: str,
    log: logging.Logger,
    stop: asyncio.Event | None = None,
) -> None:
    """Run `work` every `interval()` seconds forever, surviving any error; with `stop`, end
    when it is set, between runs (never cancelled inside a query)."""
    throttle = LogThrottle(log)
    while stop is None or not stop.is_set():
        if stop is None:
            await asyncio.sleep(interval())
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval()):
                    await stop.wait()
            if stop.is_set():
                return
        try:
            await work()
        except DB_ERRORS:
            throttle.warning("db", "database unavailable during %s", what)
        except Exception:
            throttle.warning("bug", "%s failed; will retry", what, exc_info=True)
