"""Pacing for bulk sends: a global rate, one message per second per chat, and a global pause
after a 429. Slots are handed out in order, so concurrent senders never burst."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        per_chat_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._per_chat = per_chat_interval
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_by_chat: dict[str, float] = {}

    def pause(self, seconds: float) -> None:
        """Nothing may be sent before `seconds` from now (Telegram's retry_after)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._next_slot = max(self._next_slot, self._paused_until)

    async def acquire(self, chat: str) -> None:
        now = self._clock()
        slot = max(now, self._next_slot, self._paused_until)
        last = self._last_by_chat.get(chat)
        if last is not None:
            slot = max(slot, last + self._per_chat)
        self._next_slot = max(self._next_slot, slot + self._interval) if self._interval else slot
        self._last_by_chat[chat] = slot
        if len(self._last_by_chat) > 50_000:  # forget chats idle for longer than the interval
            self._last_by_chat = {
                c: t for c, t in self._last_by_chat.items() if t > now - self._per_chat
            }
        delay = slot - now
        if delay > 0:
            await self._sleep(delay)
        # A 429 that arrived while we slept moves our turn.
        while self._paused_until > self._clock():
            await self._sleep(self._paused_until - self._clock())
