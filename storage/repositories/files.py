"""Files customers sent: their bytes stored once by SHA-256 (`file_blobs`), listed per ticket
message under the name they came with (`ticket_files`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import FileBlob, TicketFile, TicketMessage, utcnow
from storage.repositories._upsert import upsert_insert


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def keep_blob(session: AsyncSession, data: bytes, at: datetime | None = None) -> str:
    """Store `data` unless the same bytes are stored already; returns its SHA-256."""
    sha256 = digest(data)
    await session.execute(
        upsert_insert(session, FileBlob.__table__)
        .values(sha256=sha256, size=len(data), data=data, created_at=at or utcnow())
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return sha256


async def files_of(
    session: AsyncSession, message_ids: Sequence[int]
) -> dict[int, list[TicketFile]]:
    """The files of these ticket messages, by message id, in the order they came."""
    if not message_ids:
        return {}
    rows = (
        await session.execute(
            select(TicketFile)
            .where(TicketFile.message_id.in_(list(message_ids)))
            .order_by(TicketFile.id)
        )
    ).scalars()
    found: dict[int, list[TicketFile]] = {}
    for row in rows:
        found.setdefault(row.message_id, []).append(row)
    return found


async def file_with_bytes(
    session: AsyncSession, file_id: int
) -> tuple[TicketFile, int, bytes] | None:
    """A ticket file, the ticket it belongs to, and its bytes."""
    row = (
        await session.execute(
            select(TicketFile, TicketMessage.ticket_id, FileBlob.data)
            .join(TicketMessage, TicketMessage.id == TicketFile.message_id)
            .join(FileBlob, FileBlob.sha256 == TicketFile.sha256)
            .where(TicketFile.id == file_id)
        )
    ).first()
    return None if row is None else (row[0], int(row[1]), bytes(row[2]))
