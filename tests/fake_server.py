"""What the in-repo platform fakes share: serving an aiohttp app on a free local port, and a
platform's rate limit over a sliding second (sends past it get the platform's own error)."""

from __future__ import annotations

import time
from collections import deque

from aiohttp import web

from tests.conftest import free_port


class FakeServer:
    """An aiohttp app on 127.0.0.1 and a free port, started and closed by the test."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class SlidingSecond:
    """At most `limit` sends in any second, as the platform counts them; None is no limit."""

    def __init__(self, limit: float | None = None) -> None:
        self.limit = limit
        self.refused = 0
        self._times: deque[float] = deque()

    def over(self) -> bool:
        if self.limit is None:
            return False
        now = time.monotonic()
        while self._times and self._times[0] <= now - 1.0:
            self._times.popleft()
        if len(self._times) >= self.limit:
            self.refused += 1
            return True
        self._times.append(now)
        return False
