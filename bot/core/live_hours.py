"""Working hours an admin edits in the console, taking effect without a restart.

The config file's `[hours]` is the default; a save stores the edited keys in SQL (one row,
`hours_settings`) with the audit entry, and applies them here at once. Every instance reads
the row's version every few seconds and applies a newer one, so all of them answer by the same
hours within seconds. The edits are applied to the one `WorkingHours` object everything holds
(the conversation, tickets and their due times, the SLA watch, the pages). The time zone is
the file's only: the due times and kept working times already computed are in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import HoursConfig, WeeklySchedule
from bot.core.hours import HoursProblem, WorkingHours, parse_schedule
from storage.models import utcnow
from storage.recovery import periodic
from storage.repositories import hours_settings
from storage.repositories.api import AuditLog
from storage.repositories.hours_settings import HoursEdits

log = logging.getLogger(__name__)
EDITABLE = ("weekly", "extra_holidays", "reply_target_minutes", "country", "subdivision")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS = 6
MAX_HOLIDAYS = 200
MAX_TARGET_MINUTES = 60 * 24 * 30


def edited(config: HoursConfig, edits: Mapping[str, Any]) -> HoursConfig:
    """`config` with the edits applied, checked as the file's `[hours]` is: a ValueError
    names the key ("weekly.mon: bad interval ...")."""
    changes: dict[str, Any] = {}
    if "weekly" in edits:
        week = edits["weekly"]
        if not isinstance(week, Mapping) or set(week) - set(DAYS):
            raise HoursProblem(
                "weekly: one list of intervals per day, mon to sun", "hours_bad_week"
            )
        days = {}
        for day in DAYS:
            intervals = week.get(day, [])
            if not isinstance(intervals, list) or len(intervals) > MAX_INTERVALS:
                raise HoursProblem(
                    f"weekly.{day}: at most {MAX_INTERVALS} intervals",
                    "hours_too_many_intervals",
                    day=day,
                    n=str(MAX_INTERVALS),
                )
            days[day] = [str(item).strip() for item in intervals]
        changes["weekly"] = WeeklySchedule(**days)
    if "extra_holidays" in edits:
        holidays = edits["extra_holidays"]
        if not isinstance(holidays, list) or len(holidays) > MAX_HOLIDAYS:
            raise HoursProblem(
                f"extra_holidays: at most {MAX_HOLIDAYS} days",
                "hours_too_many_holidays",
                n=str(MAX_HOLIDAYS),
            )
        changes["extra_holidays"] = sorted(
            str(item).strip() for item in holidays if str(item).strip()
        )
    if "reply_target_minutes" in edits:
        target = edits["reply_target_minutes"]
        if not isinstance(target, int) or not 1 <= target <= MAX_TARGET_MINUTES:
            raise HoursProblem(
                f"reply_target_minutes: 1 to {MAX_TARGET_MINUTES}",
                "hours_bad_target",
                n=str(MAX_TARGET_MINUTES),
            )
        changes["reply_target_minutes"] = target
    for key in ("country", "subdivision"):
        if key in edits:
            changes[key] = str(edits[key]).strip().upper()[:8]
    result = replace(config, **changes)
    parse_schedule(result)  # raises ValueError naming the key
    return result


def edits_of(config: HoursConfig) -> dict[str, Any]:
    """The editable keys of a config, as a save stores them."""
    values = asdict(config)
    return {key: values[key] for key in EDITABLE}


def _stored_config(file_config: HoursConfig, stored: HoursEdits) -> HoursConfig | None:
    """The file's `[hours]` with stored edits, or None (logged) if they no longer check, e.g.
    a country this version's calendar does not know."""
    try:
        return edited(file_config, stored.edits)
    except ValueError as exc:
        log.warning("stored working hours not applied: %s", exc)
        return None


async def config_in_effect(session: AsyncSession, file_config: HoursConfig) -> HoursConfig:
    """The file's `[hours]` with the console's stored edits (for one-off commands)."""
    stored = await hours_settings.read(session)
    found = None if stored is None else _stored_config(file_config, stored)
    return found or file_config


class LiveHours:
    def __init__(
        self,
        pool: async_sessionmaker[AsyncSession],
        file_config: HoursConfig,
        hours: WorkingHours | None = None,
        *,
        every: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self.file_config = file_config
        self.config = file_config  # as applied now
        self.hours = hours or parse_schedule(file_config)
        self.version = 0
        self.updated_at: datetime | None = None
        self.updated_by = ""
        self.every = every
        self._clock = clock
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> bool:
        """Apply the stored edits if they are newer than what is applied; whether they were."""
        async with self._pool() as session:
            if await hours_settings.version(session) == self.version:
                return False
            stored = await hours_settings.read(session)
        if stored is None:
            return False
        config = _stored_config(self.file_config, stored)
        if config is None:
            self.version = stored.version  # said once, not every few seconds
            return False
        self._apply(config, stored.version, stored.updated_at, stored.updated_by)
        return True

    async def save(self, edits: Mapping[str, Any], actor: str) -> HoursConfig:
        """Check, store with an audit entry and apply: a ValueError names a bad key."""
        config = edited(self.config, edits)
        stored = edits_of(config)
        now = self._clock()
        async with self._pool() as session, session.begin():
            before = await hours_settings.read(session)
            version = await hours_settings.write(session, stored, actor, now)
            previous = before.edits if before is not None else edits_of(self.file_config)
            changed = {k: v for k, v in stored.items() if previous.get(k) != v}
            AuditLog(session).add(actor, "hours.update", "hours", changed)
        self._apply(config, version, now, actor)
        return config

    def _apply(self, config: HoursConfig, version: int, at: datetime, by: str) -> None:
        self.hours.adopt(parse_schedule(config))
        self.config, self.version, self.updated_at, self.updated_by = config, version, at, by
        log.info("working hours applied (version %d, by %s)", version, by or "?")

    def start(self) -> None:
        self._task = asyncio.create_task(
            periodic(self.refresh, lambda: self.every, "working hours refresh", log, self._stopping)
        )

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
