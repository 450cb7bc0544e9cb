"""Stored dense vectors of FAQ texts: read by key, written once (another instance may have
written the same text first; the unique key makes that harmless)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import FaqVector, utcnow
from storage.repositories._upsert import insert_ignore_many

_CHUNK = 500  # keys per IN (...): well under either database's parameter limit


class FaqVectorStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def load(self, model: str, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(keys))
        found: dict[str, bytes] = {}
        for offset in range(0, len(wanted), _CHUNK):
            statement = select(FaqVector.text_key, FaqVector.vector).where(
                FaqVector.model == model, FaqVector.text_key.in_(wanted[offset : offset + _CHUNK])
            )
            for key, vector in (await self._session.execute(statement)).all():
                found[key] = bytes(vector)
        return found

    async def save(self, model: str, vectors: dict[str, bytes]) -> int:
        table = FaqVector.__table__
        assert isinstance(table, Table)
        now = utcnow()
        rows = [
            {"model": model, "text_key": key, "vector": blob, "created_at": now}
            for key, blob in vectors.items()
        ]
        return await insert_ignore_many(
            self._session, table, rows, ["model", "text_key"], chunk=100
        )
