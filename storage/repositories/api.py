"""API tokens (stored as hashes) and the audit log."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiToken, AuditEntry, StaffAccount, utcnow

TOKEN_PREFIX = "otk_"


TOKEN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # who or what uses a token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(
        self, name: str, role: str, owner_id: int | None = None
    ) -> tuple[ApiToken, str]:
        """A new token; the plain text is returned once and never stored."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(
            name=name,
            role=role,
            token_hash=hash_token(token),
            prefix=token[:10],
            created_at=utcnow(),
            owner_id=owner_id,
        )
        self._session.add(row)
        await self._session.flush()
        return row, token

    async def all(self) -> Sequence[ApiToken]:
        return (await self._session.execute(select(ApiToken).order_by(ApiToken.id))).scalars().all()

    async def named(self, name: str) -> ApiToken | None:
        found = await self._session.execute(select(ApiToken).where(ApiToken.name == name))
        return found.scalar_one_or_none()

    async def active(self, token: str) -> ApiToken | None:
        """The unrevoked token with this text, if any. Looked up by hash: the comparison is of
        hashes, so its timing says nothing about the token."""
        found = await self._session.execute(
            select(ApiToken, StaffAccount.disabled_at)
            .outerjoin(StaffAccount, StaffAccount.id == ApiToken.owner_id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        )
        row = found.first()
        if row is None:
            return None
        # A token made by a person is theirs: it stops with their account (disabling revokes
        # it too, see revoke_owned; this holds for one made before that existed).
        if row.ApiToken.owner_id is not None and row.disabled_at is not None:
            return None
        return row.ApiToken  # type: ignore[no-any-return]

    async def revoke_owned(self, owner_id: int, now: datetime) -> int:
        """Revoke every token this account made; how many."""
        result = await self._session.execute(
            update(ApiToken)
            .where(ApiToken.owner_id == owner_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class AuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(
        self, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
    ) -> None:
        self._session.add(
            AuditEntry(
                actor=actor[:128],
                action=action[:64],
                target=target[:128],
                details=json.dumps(details or {}, ensure_ascii=False, default=str),
                created_at=utcnow(),
            )
        )

    async def page(self, limit: int, before_id: int | None = None) -> Sequence[AuditEntry]:
        statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if before_id is not None:
            statement = statement.where(AuditEntry.id < before_id)
        return (await self._session.execute(statement)).scalars().all()
