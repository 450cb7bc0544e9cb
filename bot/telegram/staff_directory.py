"""Who may act on tickets: `admin_ids`, and members of the staff group (asked of Telegram, kept
for a few minutes; a cache of Telegram's answer, not state of ours)."""

from __future__ import annotations

import time

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramAPIError

_MEMBER_STATUSES = {"creator", "administrator", "member"}


class StaffDirectory:
    def __init__(
        self, bot: Bot, staff_chat_id: int, admin_ids: list[int], ttl_seconds: float = 300.0
    ) -> None:
        self._bot = bot
        self._chat_id = staff_chat_id
        self._admins = set(admin_ids)
        self._ttl = ttl_seconds
        self._cache: dict[int, tuple[float, bool]] = {}

    @property
    def chat_id(self) -> int:
        return self._chat_id

    async def is_staff(self, user_id: int) -> bool:
        if user_id in self._admins:
            return True
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            member = await self._bot.get_chat_member(self._chat_id, user_id)
            allowed = member.status in _MEMBER_STATUSES
        except (TelegramAPIError, ClientDecodeError):
            allowed = False
        self._cache[user_id] = (time.monotonic(), allowed)
        return allowed
