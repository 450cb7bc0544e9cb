"""Admins told in private that the staff group is unreachable.

Handed to the outbox as rows (`hand_over`) rather than sent from here: the staff sender that
notices the failure is itself one of the outbox's senders, so it needs no outbox of its own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.sender import CHANNEL
from bot.core.delivery.outbox import ReplyBuffer, hand_over
from bot.core.messages import Reply
from bot.core.texts import t


class AdminAlert:
    def __init__(
        self, pool: async_sessionmaker[AsyncSession], admin_ids: list[int], language: str
    ) -> None:
        self._pool = pool
        self._admins = [str(admin) for admin in admin_ids]
        self._language = language

    async def __call__(self, reason: str) -> None:
        if not self._admins:
            return
        text = t("staff_group_alert", self._language, reason=reason[:300])
        buffer = ReplyBuffer()
        buffer.extend_many(CHANNEL, self._admins, Reply(text))
        async with self._pool() as session, session.begin():
            await hand_over(session, buffer)
