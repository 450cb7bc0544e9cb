"""Per-user state the WhatsApp channel keeps in SQL: the last time they wrote (the 24-hour
window). Numbered choices offered them are kept by the core (`bot.core.choices`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WhatsAppContact
from storage.repositories._upsert import upsert_insert


async def wrote(session: AsyncSession, wa_id: str, now: datetime) -> None:
    """They wrote now: the window opens. One statement, no read: this runs per message."""
    table = WhatsAppContact.__table__
    statement = (
        upsert_insert(session, table)
        .values(wa_id=wa_id, last_inbound_at=now)
        .on_conflict_do_update(index_elements=["wa_id"], set_={"last_inbound_at": now})
    )
    await session.execute(statement)


async def last_wrote(session: AsyncSession, wa_id: str) -> datetime | None:
    contact = await session.get(WhatsAppContact, wa_id)
    return contact.last_inbound_at if contact is not None else None
