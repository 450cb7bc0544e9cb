"""APScheduler wiring: jobs are plain async callables rebuilt from code and SQL at start-up;
nothing is pickled into a job store."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from storage.db import DB_ERRORS

log = logging.getLogger(__name__)


def guarded(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """A database outage skips a run instead of killing the job."""

    async def run() -> None:
        try:
            await job()
        except DB_ERRORS:
            log.warning("job %s skipped: database unavailable", name)

    return run


def create_scheduler(
    jobs: list[tuple[str, Callable[[], Awaitable[object]], float]],
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for name, job, seconds in jobs:
        scheduler.add_job(
            guarded(name, job),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
        )
    return scheduler
