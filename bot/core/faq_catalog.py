"""The FAQ index, kept in step with SQL: rebuilt when the table's version changes."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.faq_matcher import FaqDocument, FaqIndex
from storage.repositories.faq import FaqRepository


class FaqCatalog:
    def __init__(self) -> None:
        self._index = FaqIndex([])
        self._version: tuple[int, str] | None = None
        self._lock = asyncio.Lock()

    async def index(self, session: AsyncSession) -> FaqIndex:
        repository = FaqRepository(session)
        version = await repository.version()
        if version == self._version:
            return self._index
        async with self._lock:
            if version != self._version:
                entries = await repository.all()
                self._index = FaqIndex(
                    FaqDocument(e.id, e.language, e.question, e.keywords, e.answer) for e in entries
                )
                self._version = version
        return self._index
