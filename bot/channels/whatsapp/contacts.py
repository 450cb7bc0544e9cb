"""Per-user state the WhatsApp channel keeps in SQL: the last time they wrote (the 24-hour
window) and the numbered choices last offered them."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WhatsAppContact


async def _contact(session: AsyncSession, wa_id: str) -> WhatsAppContact:
    contact = await session.get(WhatsAppContact, wa_id)
    if contact is None:
        contact = WhatsAppContact(wa_id=wa_id, offered="{}")
        session.add(contact)
    return contact


async def wrote(session: AsyncSession, wa_id: str, now: datetime) -> dict[str, str]:
    """They wrote now: the window opens; returns the choices offered them last."""
    contact = await _contact(session, wa_id)
    contact.last_inbound_at = now
    try:
        choices = json.loads(contact.offered or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in choices.items()} if isinstance(choices, dict) else {}


async def last_wrote(session: AsyncSession, wa_id: str) -> datetime | None:
    contact = await session.get(WhatsAppContact, wa_id)
    return contact.last_inbound_at if contact is not None else None


async def offer(session: AsyncSession, wa_id: str, choices: dict[str, str]) -> None:
    contact = await _contact(session, wa_id)
    contact.offered = json.dumps(choices, ensure_ascii=False)
