"""PostgreSQL LISTEN/NOTIFY between instances: a notice that something stored in SQL is there
to be shown (a web chat reply for a visitor whose socket another instance holds). The notice
names the row; the listener reads the row itself, so nothing is carried that SQL does not
have. SQLite has one instance: nothing to tell."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.recovery import LogThrottle

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 2.0


def channel_name(name: str, schema: str = "") -> str:
    """A channel per database schema: instances of another deployment (or test) sharing the
    server are not told."""
    return f"otklik_{name}_{schema}"[:63] if schema else f"otklik_{name}"


async def notify(engine: AsyncEngine, channel: str, payload: str) -> None:
    """Tell every listening instance (this one too); committed at once."""
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )


class Listener:
    """One asyncpg connection of its own (not the pool's: a listening connection is held for
    good) that hands every notice on `channel` to `handle`, reconnecting after a loss;
    notices sent while it was away are missed (the widget restores from SQL anyway)."""

    def __init__(
        self, url: str, channel: str, handle: Callable[[str], Coroutine[Any, Any, None]]
    ) -> None:
        parsed = make_url(url)
        self._connect = dict(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
        )
        self._channel = channel
        self._handle = handle
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._throttle = LogThrottle(log)
        self._handling: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _received(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._handle(payload))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            connection = None
            try:
                connection = await asyncpg.connect(timeout=5, **self._connect)
                await connection.add_listener(self._channel, self._received)
                self.listening.set()
                while not self._stopping.is_set() and not connection.is_closed():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self._stopping.wait()
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                self._throttle.warning("listen", "listening for %s failed: %s", self._channel, exc)
            finally:
                self.listening.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECONNECT_SECONDS):
                        await self._stopping.wait()
