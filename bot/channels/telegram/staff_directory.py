"""Who may act on tickets: `admin_ids`, and members of the staff group (asked of Telegram, kept
for a few minutes; a cache of Telegram's answer, not state of ours).

Telegram is asked before an update's transaction begins (`prefetch`), never inside it: a slow
Bot API must not hold the database (on SQLite, its only connection and the write lock) while
every other update waits. Only real answers are kept: an error is asked again next time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramBadRequest

_MEMBER_STATUSES = {"creator", "administrator", "member"}
log = logging.getLogger(__name__)


class StaffCheckUnavailable(Exception):
    """Telegram could not say whether this user is staff: handle the update again later."""


class StaffDirectory:
    def __init__(
        self,
        bot: Bot,
        staff_chat_id: int,
        admin_ids: list[int],
        ttl_seconds: float = 300.0,
        timeout: float = 5.0,
    ) -> None:
        self._bot = bot
        self._chat_id = staff_chat_id
        self._admins = set(admin_ids)
        self._ttl = ttl_seconds
        self._timeout = timeout
        self._cache: dict[int, tuple[float, bool]] = {}
        self._refused: set[int] = set()

    def first_refusal(self, user_id: int) -> bool:
        """True the first time a non-staff user is refused: one refusal per user is enough
        in the topic (per process: after a restart they may read it once more)."""
        if user_id in self._refused:
            return False
        if len(self._refused) >= 10_000:
            self._refused.clear()
        self._refused.add(user_id)
        return True

    @property
    def chat_id(self) -> int:
        return self._chat_id

    def users_to_check(self, updates: Iterable[dict[str, Any]]) -> set[int]:
        """The senders of these raw updates who wrote in the staff group."""
        users: set[int] = set()
        for update in updates:
            message = update.get("message") or update.get("edited_message")
            query = update.get("callback_query")
            sender: Any = None
            if isinstance(query, dict):
                message, sender = query.get("message"), query.get("from")
            elif isinstance(message, dict):
                sender = message.get("from")
            chat = message.get("chat") if isinstance(message, dict) else None
            if not (isinstance(chat, dict) and chat.get("id") == self._chat_id):
                continue
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                users.add(sender["id"])
        return users

    async def prefetch(self, user_ids: Iterable[int]) -> None:
        """Ask Telegram about these users now, side by side, outside any transaction."""
        unknown = [u for u in set(user_ids) if self._known(u) is None]
        if unknown:
            await asyncio.gather(*(self._ask(u) for u in unknown))

    def all_known(self, user_ids: Iterable[int]) -> bool:
        return all(self._known(u) is not None for u in user_ids)

    async def is_staff(self, user_id: int) -> bool:
        known = self._known(user_id)
        if known is None:
            raise StaffCheckUnavailable(f"membership of {user_id} in the staff group is unknown")
        return known

    def _known(self, user_id: int) -> bool | None:
        if user_id in self._admins:
            return True
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        return None

    async def _ask(self, user_id: int) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                member = await self._bot.get_chat_member(self._chat_id, user_id)
        except TelegramBadRequest:
            self._cache[user_id] = (time.monotonic(), False)  # "user not found": an answer
            return
        except (TelegramAPIError, ClientDecodeError, TimeoutError) as exc:
            log.warning(
                "could not ask Telegram whether %s is staff: %s", user_id, type(exc).__name__
            )
            return
        self._cache[user_id] = (time.monotonic(), member.status in _MEMBER_STATUSES)
