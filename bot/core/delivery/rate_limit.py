"""Pacing for one bot token: every send to Telegram, replies and campaigns alike, takes a turn
here, so that together they stay under Telegram's cap and a burst is spread, not bounced.

- In any sliding `window` (a second and a margin) there are at most `cap` sends of any kind and
  at most `per_second` campaign sends; turns are also spaced evenly (1/cap, 1/per_second
  apart), so the queue a 429 pause builds up drains at the rate, not all at once after it.
- One chat gets at most one send per `per_chat_interval`.
- Replies go first: a campaign send waits while a reply is waiting for its turn.
- A 429 pauses everyone until `retry_after` has passed; a turn that fell inside the pause is
  taken again after it.

Turns are counted where they are granted; a small margin on the window keeps the count true
where the Bot API sees the requests a few milliseconds later or in another order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bot.core.delivery.outbox import SendingStopped
from bot.core.delivery.shared_rate import SharedRate
from storage.recovery import LogThrottle

log = logging.getLogger(__name__)

TELEGRAM_CAP = 30.0  # messages a second to different chats, as Telegram documents it
MARGIN = 0.05  # seconds added to the window: requests reach the Bot API with some jitter


class _Lane:
    """Grants of one kind: their times in the last window, and the next even spacing."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self.spacing = 1.0 / per_second if per_second > 0 else 0.0
        self.granted: deque[float] = deque()

    def wait(self, now: float, window: float) -> float:
        """Seconds until this lane may grant again (0: now)."""
        if self.per_second <= 0:
            return 0.0
        while self.granted and self.granted[0] <= now - window:
            self.granted.popleft()
        wait = 0.0
        if self.granted:
            wait = self.granted[-1] + self.spacing - now
        if len(self.granted) >= self.per_second:
            wait = max(wait, self.granted[0] + window - now)
        return max(wait, 0.0)


# The share of a platform's rate campaigns may take when the platform sets one limit (VK,
# WhatsApp); the rest is the replies'.
CAMPAIGN_SHARE = 0.8


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        per_chat_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        cap: float = TELEGRAM_CAP,
        window: float = 1.0 + MARGIN,
        shared: SharedRate | None = None,
    ) -> None:
        # Campaigns never exceed the bot's cap. per_second <= 0: no limit at all (Telegram's
        # paid broadcasts allow far more), only the per-chat interval and 429 pauses.
        if per_second <= 0:
            cap = per_second = 0.0
        self._all = _Lane(cap)
        self._campaigns = _Lane(min(per_second, cap))
        self._per_chat = per_chat_interval
        self._clock = clock
        self._sleep = sleep
        self._window = window
        self._paused_until = 0.0
        self._last_by_chat: dict[str, float] = {}
        self._campaign_gate = asyncio.Lock()  # FIFO: campaign turns in order of asking
        self._reply_gate = asyncio.Lock()
        self._replies_waiting = 0
        self._closed = False
        # Several instances: the cap and the pauses they share (None: this process alone).
        self._shared = shared
        self._shared_failing = LogThrottle(log)
        self._pausing: set[asyncio.Task[None]] = set()
        # Told of every turn granted: (the chat, or None for a reply; the limiter's clock).
        # What the limiter decided, for tests and benchmarks: the Bot API sees the same
        # requests later and bunched by the network and the event loop.
        self.on_grant: Callable[[str | None, float], None] | None = None

    def close(self) -> None:
        """Stopping: every turn asked for from now on, or still waited for, is refused."""
        self._closed = True

    def pause(self, seconds: float) -> None:
        """Nothing may be sent before `seconds` from now (Telegram's retry_after), here and,
        with a shared rate, by every instance."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        if self._shared is not None:
            task = asyncio.get_running_loop().create_task(self._share_pause(seconds))
            self._pausing.add(task)
            task.add_done_callback(self._pausing.discard)

    async def _share_pause(self, seconds: float) -> None:
        assert self._shared is not None
        try:
            await self._shared.pause(seconds)
        except Exception as exc:  # Redis away: this instance still pauses
            self._shared_failing.warning("pause", "shared rate: pause not shared: %s", exc)

    async def _shared_wait(self, campaign_slot: bool) -> tuple[float, bool]:
        """Seconds to wait for the instances' shared cap (0: granted and counted there), and
        whether a campaign slot is now held. `campaign_slot`: one is still needed (a campaign
        turn takes its lane's slot first, once, then waits for the cap of all sends)."""
        if self._shared is None:
            return 0.0, False
        try:
            paused = await self._shared.paused_for()
            if paused > 0:
                self._paused_until = max(self._paused_until, self._clock() + paused)
                return paused, False
            if campaign_slot and (wait := await self._shared.take("campaigns")) > 0:
                return wait, False
            return await self._shared.take("all"), campaign_slot
        except Exception as exc:
            # Redis away: this instance goes on at its own pace rather than stop sending.
            self._shared_failing.warning(
                "take", "shared rate unavailable (%s): pacing this instance alone", exc
            )
            return 0.0, campaign_slot

    async def acquire(self, chat: str) -> None:
        """A campaign send's turn."""
        async with self._campaign_gate:
            await self._turn(chat, self._campaigns, yield_to_replies=True)

    async def acquire_reply(self) -> None:
        """A reply's (or staff post's) turn: ahead of every campaign send still waiting. No
        per-chat spacing: an answer and its menu may follow each other at once."""
        self._replies_waiting += 1
        try:
            async with self._reply_gate:
                await self._turn(None, None, yield_to_replies=False)
        finally:
            self._replies_waiting -= 1

    async def _turn(self, chat: str | None, lane: _Lane | None, *, yield_to_replies: bool) -> None:
        slot_held = False  # a shared campaign slot taken on an earlier pass of this turn
        while True:
            if self._closed:
                raise SendingStopped("stopping: no new sends")
            now = self._clock()
            wait = max(self._paused_until - now, self._all.wait(now, self._window))
            if lane is not None:
                wait = max(wait, lane.wait(now, self._window))
            last = self._last_by_chat.get(chat) if chat is not None else None
            if last is not None:
                wait = max(wait, last + self._per_chat - now)
            if yield_to_replies and self._replies_waiting:
                wait = max(wait, self._all.spacing or 0.01)
            if wait <= 0:
                wait, held = await self._shared_wait(lane is not None and not slot_held)
                slot_held = slot_held or held
                now = self._clock()
                if wait <= 0:
                    break
            await self._sleep(min(wait, 0.25))  # wakes to see close() in good time
        # Granted: recorded in the same step as the check, so no other turn slips in between.
        self._all.granted.append(now)
        if lane is not None:
            lane.granted.append(now)
        if self.on_grant is not None:
            self.on_grant(chat, now)
        if chat is None:
            return
        self._last_by_chat[chat] = now
        if len(self._last_by_chat) > 50_000:  # forget chats idle for longer than the interval
            self._last_by_chat = {
                c: t for c, t in self._last_by_chat.items() if t > now - self._per_chat
            }
