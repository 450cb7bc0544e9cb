"""What the in-repo platform fakes share: serving an aiohttp app on a free local port (their
rate limits are tests.rates.SlidingSecond)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import get_unused_port_socket


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
        # The socket is bound here and listened on as it is: no window for another to take it.
        sock = get_unused_port_socket("127.0.0.1")
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
