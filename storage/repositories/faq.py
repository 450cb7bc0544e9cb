from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationMessage, FaqEntry, FaqFeedback, utcnow
from storage.repositories._upsert import insert_ignore


@dataclass(frozen=True)
class FaqRecord:
    """One language version of one FAQ entry, as it is imported and exported."""

    slug: str
    language: str
    question: str
    answer: str
    keywords: tuple[str, ...] = ()


def append_keyword(entry: FaqEntry, phrase: str) -> bool:
    """Add a phrasing to an entry's keywords (an edit: its version rises); False if known."""
    known = [k for k in entry.keywords.split("\n") if k]
    if phrase in known:
        return False
    entry.keywords = "\n".join([*known, phrase])
    entry.updated_at = utcnow()
    entry.version += 1
    return True


class FaqRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> Sequence[FaqEntry]:
        statement = select(FaqEntry).order_by(FaqEntry.slug, FaqEntry.language)
        return (await self._session.execute(statement)).scalars().all()

    async def get(self, entry_id: int) -> FaqEntry | None:
        return await self._session.get(FaqEntry, entry_id)

    async def version(self) -> tuple[int, str]:
        """Changes whenever entries are added, removed or edited: the matcher's cache key."""
        statement = select(func.count(FaqEntry.id), func.max(FaqEntry.updated_at))
        count, latest = (await self._session.execute(statement)).one()
        return int(count), str(latest)

    async def add_keyword(self, slug: str, language: str, phrase: str) -> FaqEntry | None:
        """Add a phrasing to an entry's keywords (its `language` version, else its first)."""
        versions = (
            (await self._session.execute(select(FaqEntry).where(FaqEntry.slug == slug)))
            .scalars()
            .all()
        )
        if not versions:
            return None
        entry = next((e for e in versions if e.language == language), versions[0])
        append_keyword(entry, phrase)
        return entry

    async def add_one(
        self, slug: str, language: str, question: str, answer: str, keywords: tuple[str, ...]
    ) -> bool:
        """Add one language version; False if it exists."""
        exists = await self._session.execute(
            select(FaqEntry.id).where(FaqEntry.slug == slug, FaqEntry.language == language)
        )
        if exists.first() is not None:
            return False
        self._session.add(
            FaqEntry(
                slug=slug,
                language=language,
                question=question,
                answer=answer,
                keywords="\n".join(keywords),
                updated_at=utcnow(),
            )
        )
        return True

    async def claim_version(self, entry_id: int, version: int) -> bool:
        """Raise the version if it is still `version`: of two racing editors one wins."""
        result = await self._session.execute(
            update(FaqEntry)
            .where(FaqEntry.id == entry_id, FaqEntry.version == version)
            .values(version=version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def upsert(
        self, records: Iterable[FaqRecord], *, replace: bool = False
    ) -> tuple[int, int]:
        """Insert new entries and update changed ones; returns (created, updated)."""
        existing = {(e.slug, e.language): e for e in await self.all()}
        created = updated = 0
        seen: set[tuple[str, str]] = set()
        now = utcnow()
        for record in records:
            key = (record.slug, record.language)
            seen.add(key)
            keywords = "\n".join(record.keywords)
            entry = existing.get(key)
            if entry is None:
                self._session.add(
                    FaqEntry(
                        slug=record.slug,
                        language=record.language,
                        question=record.question,
                        answer=record.answer,
                        keywords=keywords,
                        updated_at=now,
                    )
                )
                created += 1
            elif (entry.question, entry.answer, entry.keywords) != (
                record.question,
                record.answer,
                keywords,
            ):
                entry.question, entry.answer, entry.keywords = (
                    record.question,
                    record.answer,
                    keywords,
                )
                entry.updated_at = now
                entry.version += 1
                updated += 1
        if replace:
            for key, entry in existing.items():
                if key not in seen:
                    await self._session.delete(entry)
        await self._session.flush()
        return created, updated

    async def hits(self) -> dict[int, int]:
        """Times each entry was answered, counted from the conversation log (not stored twice)."""
        statement = (
            select(ConversationMessage.faq_entry_id, func.count())
            .where(
                ConversationMessage.direction == "out",
                ConversationMessage.faq_entry_id.is_not(None),
            )
            .group_by(ConversationMessage.faq_entry_id)
        )
        rows = (await self._session.execute(statement)).all()
        return {int(entry_id or 0): int(count) for entry_id, count in rows}

    async def record_feedback(
        self, message_id: int, entry_id: int, customer_id: int, helpful: bool
    ) -> bool:
        """Count one vote per answer message; a repeated tap returns False and changes nothing."""
        inserted = await insert_ignore(
            self._session,
            FaqFeedback.__table__,  # type: ignore[arg-type]
            {
                "message_id": message_id,
                "faq_entry_id": entry_id,
                "customer_id": customer_id,
                "helpful": helpful,
                "created_at": utcnow(),
            },
            ["message_id"],
        )
        if inserted is None:
            return False
        column = FaqEntry.helpful_count if helpful else FaqEntry.unhelpful_count
        await self._session.execute(
            update(FaqEntry).where(FaqEntry.id == entry_id).values({column: column + 1})
        )
        return True
