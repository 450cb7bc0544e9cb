"""One chromium at a time across test runs: `make test` runs the PostgreSQL suite and the
date guard side by side, and two browsers rendering at once on a 2-core machine timed out
taking screenshots. A lock file in the temporary directory makes the browser tests take turns."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

LOCK = Path(tempfile.gettempdir()) / "otklik-tests-browser.lock"
CHROMIUM = os.environ.get("OTKLIK_CHROMIUM", "/usr/bin/chromium")
# `make test` runs the browser tests in its SQLite run only (OTKLIK_TEST_BROWSER=0 in the
# others): the pages render on the server, which the other runs reach over plain HTTP.
needs_chromium = pytest.mark.skipif(
    os.environ.get("OTKLIK_TEST_BROWSER") == "0" or not shutil.which(CHROMIUM),
    reason=f"!!! no chromium at {CHROMIUM} (`make test` installs Debian's package), or "
    "OTKLIK_TEST_BROWSER=0 (make test's PostgreSQL and date-guard runs): the browser tests are "
    "SKIPPED here !!!",
)


@contextlib.asynccontextmanager
async def browser_turn() -> AsyncIterator[None]:
    with LOCK.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's chromium driven by Playwright for one test: its turn at the one browser taken
    first (browser_turn), closed however the test ends."""
    from playwright.async_api import async_playwright

    async with browser_turn(), async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def screenshot(page: Any, path: str, full_page: bool = False) -> None:
    """A screenshot of a page that may reload itself (live updates reload a ticket page when
    its ticket changes, our own reply included): a shot taken across the reload hangs, so it
    is tried again once the page has loaded."""
    for attempt in range(3):
        try:
            await page.screenshot(path=path, full_page=full_page, timeout=10_000)
            return
        except Exception:
            if attempt == 2:
                raise
            await page.wait_for_load_state("load")
