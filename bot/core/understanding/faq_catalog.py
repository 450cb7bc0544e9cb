"""The FAQ index, kept in step with SQL: rebuilt when the table's version changes.

The version is read at most every `refresh_seconds`, so an edit made by `otklik faq import` in
another process shows within that time without a query on every message. With a dense model,
a rebuild reads the entry texts' vectors from SQL and computes (off the event loop) and stores
only the ones no instance has computed yet: a question never pays for an entry's vector.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import FaqConfig
from bot.core.understanding.faq_matcher import FaqDocument, FaqIndex
from bot.core.understanding.faq_ranking import DenseGate, FaqMatcher
from bot.core.understanding.recent_questions import RecentQuestions
from bot.core.understanding.semantic import DenseIndex, Embedder, entry_texts, pack, unpack
from storage.repositories.faq import FaqRepository
from storage.repositories.faq_vectors import FaqVectorStore

log = logging.getLogger(__name__)


async def build_dense(
    session: AsyncSession, documents: Sequence[FaqDocument], embedder: Embedder
) -> DenseIndex:
    """Vectors for every entry text: stored ones read back, missing ones made and stored."""
    texts = entry_texts(documents)
    store = FaqVectorStore(session)
    stored = await store.load(embedder.model, (t.key for t in texts))
    missing = {t.key: t for t in texts if t.key not in stored}
    if missing:
        started = time.monotonic()
        made: dict[str, bytes] = {}
        for kind in sorted({t.kind for t in missing.values()}):
            batch = [t for t in missing.values() if t.kind == kind]
            vectors = await asyncio.to_thread(embedder.embed, [t.text for t in batch], kind)
            made.update((t.key, pack(v)) for t, v in zip(batch, vectors, strict=True))
        # Saved in the caller's transaction: if it rolls back they are made again next time.
        await store.save(embedder.model, made)
        stored.update(made)
        log.info(
            "FAQ: %d new text vectors computed in %.1f s and stored",
            len(made),
            time.monotonic() - started,
        )
    matrix = [unpack(stored[t.key]) for t in texts]
    vectors = np.vstack(matrix) if matrix else np.zeros((0, embedder.dimensions), dtype=np.float32)
    return DenseIndex(texts, vectors, embedder)


class FaqCatalog:
    def __init__(
        self,
        config: FaqConfig | None = None,
        embedder: Embedder | None = None,
        refresh_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config or FaqConfig()
        self._embedder = embedder
        self._gate = DenseGate(self._config.semantic.max_per_second)  # shared by every rebuild
        self._recent = RecentQuestions()  # and so are the questions' vectors
        self._matcher = FaqMatcher(FaqIndex([]), None, self._config, self._gate, self._recent)
        self._version: tuple[int, str] | None = None
        self._checked_at = float("-inf")
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = asyncio.Lock()

    @property
    def current(self) -> FaqMatcher:
        """The matcher as last built, without asking SQL whether the FAQ changed (a question
        prepared with it keeps its vector for the next one: they share `RecentQuestions`)."""
        return self._matcher

    def invalidate(self) -> None:
        """This process changed the FAQ: look at SQL again at the next question."""
        self._checked_at = float("-inf")

    async def index(self, session: AsyncSession) -> FaqIndex:
        return (await self.matcher(session)).index

    async def matcher(self, session: AsyncSession) -> FaqMatcher:
        if self._monotonic() - self._checked_at < self._refresh:
            return self._matcher
        async with self._lock:
            if self._monotonic() - self._checked_at < self._refresh:
                return self._matcher
            repository = FaqRepository(session)
            version = await repository.version()
            if version != self._version:
                entries = await repository.all()
                documents = [
                    FaqDocument(e.id, e.language, e.question, e.keywords, e.answer, e.slug)
                    for e in entries
                ]
                dense = None
                if self._embedder is not None:
                    dense = await build_dense(session, documents, self._embedder)
                self._matcher = FaqMatcher(
                    FaqIndex(documents), dense, self._config, self._gate, self._recent
                )
                self._version = version
            self._checked_at = self._monotonic()
        return self._matcher
