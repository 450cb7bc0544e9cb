"""Staff accounts for the web inbox and their browser sessions."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import StaffAccount, WebSession


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_login(self, login: str) -> StaffAccount | None:
        found = await self._session.execute(
            select(StaffAccount).where(StaffAccount.login == login.lower())
        )
        return found.scalar_one_or_none()

    async def add(
        self, login: str, name: str, role: str, password_hash: str, now: datetime
    ) -> StaffAccount:
        account = StaffAccount(
            login=login.lower(), name=name, role=role, password_hash=password_hash, created_at=now
        )
        self._session.add(account)
        await self._session.flush()
        return account

    @staticmethod
    def locked(account: StaffAccount, now: datetime) -> timedelta | None:
        """How long the account stays locked, if it is."""
        if account.locked_until is None or account.locked_until <= now:
            return None
        return account.locked_until - now

    async def count_failure(
        self, account_id: int, now: datetime, limit: int, lock: timedelta
    ) -> bool:
        """Count a wrong password or code (one statement: guesses at once all count); True
        when this one locks the account."""
        counted = await self._session.execute(
            update(StaffAccount)
            .where(StaffAccount.id == account_id)
            .values(failed_sign_ins=StaffAccount.failed_sign_ins + 1)
            .returning(StaffAccount.failed_sign_ins)
        )
        if (counted.scalar_one_or_none() or 0) < limit:
            return False
        await self._session.execute(
            update(StaffAccount)
            .where(StaffAccount.id == account_id)
            .values(failed_sign_ins=0, locked_until=now + lock)
        )
        return True

    async def signed_in(self, account_id: int, step: int | None) -> bool:
        """A right password (and code): the count starts again. With a code, its time step
        is taken, once: False if another sign-in used it first."""
        values: dict[str, object] = {"failed_sign_ins": 0, "locked_until": None}
        statement = update(StaffAccount).where(StaffAccount.id == account_id)
        if step is not None:
            values["totp_last_step"] = step
            statement = statement.where(
                or_(StaffAccount.totp_last_step.is_(None), StaffAccount.totp_last_step < step)
            )
        result = await self._session.execute(statement.values(**values))
        return bool(getattr(result, "rowcount", 0))

    async def all(self) -> Sequence[StaffAccount]:
        statement = select(StaffAccount).order_by(StaffAccount.id)
        return (await self._session.execute(statement)).scalars().all()


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def start(self, account: StaffAccount, now: datetime, lifetime: timedelta) -> str:
        """A new session id (never one the browser brought: no fixation); returns the id."""
        session_id = secrets.token_urlsafe(32)
        self._session.add(
            WebSession(
                id_hash=_hash(session_id),
                account_id=account.id,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + lifetime,
            )
        )
        await self._session.flush()
        return session_id

    async def find(
        self, session_id: str, now: datetime, lifetime: timedelta
    ) -> tuple[WebSession, StaffAccount] | None:
        """The live session and its enabled account; use extends it."""
        found = await self._session.execute(
            select(WebSession, StaffAccount)
            .join(StaffAccount, StaffAccount.id == WebSession.account_id)
            .where(WebSession.id_hash == _hash(session_id))
        )
        row = found.first()
        if row is None:
            return None
        web_session, account = row
        if web_session.expires_at <= now or account.disabled_at is not None:
            return None
        if web_session.expires_at - now < lifetime - timedelta(minutes=5):
            web_session.expires_at = now + lifetime
        return web_session, account

    async def live(self, session_ids: set[str], now: datetime) -> set[str]:
        """Which of these sessions are unexpired, of an account not disabled."""
        hashes = {_hash(s): s for s in session_ids}
        found = await self._session.execute(
            select(WebSession.id_hash)
            .join(StaffAccount, StaffAccount.id == WebSession.account_id)
            .where(
                WebSession.id_hash.in_(list(hashes)),
                WebSession.expires_at > now,
                StaffAccount.disabled_at.is_(None),
            )
        )
        return {hashes[h] for h in found.scalars()}

    async def end(self, session_id: str) -> None:
        await self._session.execute(
            delete(WebSession).where(WebSession.id_hash == _hash(session_id))
        )

    async def end_all(self, account_id: int) -> None:
        await self._session.execute(delete(WebSession).where(WebSession.account_id == account_id))
