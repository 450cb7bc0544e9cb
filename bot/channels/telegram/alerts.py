"""Admins told in private that the staff group is unreachable.

Handed to the outbox as rows (`hand_over`) rather than sent from here: the staff sender that
notices the failure is itself one of the outbox's senders, so it needs no outbox of its own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.sender import CHANNEL
from bot.core.messages import Reply
from bot.core.outbox import ReplyBuffer, hand_over

STAFF_GROUP_ALERT = {
    "ru": "⚠️ Бот не может писать в группу поддержки: {reason}\nОбращения сохраняются и будут "
    "отправлены туда, когда доступ вернётся. Проверьте, что бот состоит в группе и может "
    "создавать темы.",
    "en": "⚠️ The bot cannot post to the staff group: {reason}\nTickets are kept and will be "
    "posted there once it can. Check that the bot is a member of the group and may manage "
    "topics.",
}


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
        template = STAFF_GROUP_ALERT.get(self._language, STAFF_GROUP_ALERT["en"])
        buffer = ReplyBuffer()
        buffer.extend_many(CHANNEL, self._admins, Reply(template.format(reason=reason[:300])))
        async with self._pool() as session, session.begin():
            await hand_over(session, buffer)
