"""The console's edits of working hours and holidays: one row, read by every instance every
few seconds (its version says whether anything changed) and written by a save."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import HoursSetting

ROW = 1


@dataclass(frozen=True)
class HoursEdits:
    version: int
    edits: dict[str, Any]
    updated_at: datetime
    updated_by: str


async def version(session: AsyncSession) -> int:
    """0 before any save."""
    found = await session.scalar(select(HoursSetting.version).where(HoursSetting.id == ROW))
    return int(found or 0)


async def read(session: AsyncSession) -> HoursEdits | None:
    row = await session.get(HoursSetting, ROW)
    if row is None:
        return None
    return HoursEdits(row.version, dict(json.loads(row.edits)), row.updated_at, row.updated_by)


async def write(session: AsyncSession, edits: dict[str, Any], actor: str, now: datetime) -> int:
    """Store the edits (the row locked, so two saves at once take turns); the new version."""
    row = await session.get(HoursSetting, ROW, with_for_update=True)
    text = json.dumps(edits, ensure_ascii=False, sort_keys=True)
    if row is None:
        row = HoursSetting(id=ROW, edits=text, version=1, updated_at=now, updated_by=actor)
        session.add(row)
    else:
        row.edits, row.version = text, row.version + 1
        row.updated_at, row.updated_by = now, actor[:128]
    await session.flush()
    return row.version
