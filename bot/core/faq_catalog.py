"""The FAQ index, kept in step with SQL: rebuilt when the table's version changes.

The version is read at most every `refresh_seconds`, so an edit made by `otklik faq import` in
another process shows within that time without a query on every message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.faq_matcher import FaqDocument, FaqIndex
from storage.repositories.faq import FaqRepository


class FaqCatalog:
    def __init__(
        self, refresh_seconds: float = 2.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._index = FaqIndex([])
        self._version: tuple[int, str] | None = None
        self._checked_at = float("-inf")
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = asyncio.Lock()

    async def index(self, session: AsyncSession) -> FaqIndex:
        if self._monotonic() - self._checked_at < self._refresh:
            return self._index
        async with self._lock:
            if self._monotonic() - self._checked_at < self._refresh:
                return self._index
            repository = FaqRepository(session)
            version = await repository.version()
            if version != self._version:
                entries = await repository.all()
                self._index = FaqIndex(
                    FaqDocument(e.id, e.language, e.question, e.keywords, e.answer) for e in entries
                )
                self._version = version
            self._checked_at = self._monotonic()
        return self._index
