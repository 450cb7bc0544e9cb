"""The loop that finishes what a crash or an outage left behind, shared by every durable queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage.db import DB_ERRORS


async def recovery_loop(
    recover: Callable[[float], Awaitable[int]],
    interval: float,
    what: str,
    log: logging.Logger,
) -> None:
    """At start-up take everything pending; afterwards only what has waited `interval` (the
    rest is still in the hands of its own task)."""
    first = True
    while True:
        try:
            count = await recover(0.0 if first else interval)
            if count:
                log.info("resumed %d %s", count, what)
            first = False
        except DB_ERRORS:
            log.warning("database unavailable; %s will be retried", what)
        await asyncio.sleep(interval)
