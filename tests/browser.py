"""One chromium at a time across test runs: `make test` runs the PostgreSQL suite and the
date guard side by side, and two browsers rendering at once on a 2-core machine timed out
taking screenshots. A lock file in the temporary directory makes the browser tests take turns."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "otklik-tests-browser.lock"


@contextlib.asynccontextmanager
async def browser_turn() -> AsyncIterator[None]:
    with LOCK.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
