"""What each VK user's app can show, kept in SQL from the `client_info` VK sends with every
message: `button_actions` without "callback" (an old app, VK Me) cannot press a callback
button, and `inline_keyboard` or `keyboard` false cannot show those keyboards at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import VkClient, utcnow
from storage.repositories._upsert import upsert_insert


@dataclass(frozen=True)
class ClientCan:
    keyboard: bool = True
    inline: bool = True
    callback: bool = True


EVERYTHING = ClientCan()  # a user we have not heard from yet: the usual app


def from_info(info: Any) -> ClientCan | None:
    if not isinstance(info, dict):
        return None
    actions = info.get("button_actions")
    return ClientCan(
        keyboard=info.get("keyboard") is not False,
        inline=info.get("inline_keyboard") is not False,
        callback=not isinstance(actions, list) or "callback" in actions,
    )


async def saw(session: AsyncSession, peer_id: str, can: ClientCan) -> None:
    """One statement, no read: this runs with every message."""
    values = {"keyboard": can.keyboard, "inline": can.inline, "callback": can.callback}
    statement = (
        upsert_insert(session, VkClient.__table__)
        .values(peer_id=peer_id, updated_at=utcnow(), **values)
        .on_conflict_do_update(index_elements=["peer_id"], set_={**values, "updated_at": utcnow()})
    )
    await session.execute(statement)


async def of(session: AsyncSession, peer_id: str) -> ClientCan:
    row = await session.get(VkClient, peer_id)
    if row is None:
        return EVERYTHING
    return ClientCan(row.keyboard, row.inline, row.callback)
