"""Lookups remembered for one transaction, so a batch of inbound messages can be loaded in one
query instead of one per message.

A memo lives in `session.info` and is forgotten when the transaction ends, committed or rolled
back, savepoints included: after that, other writers may have changed what it says.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_PREFIX = "otklik.memo."


def memo(session: AsyncSession | Session, name: str) -> dict[Any, Any] | None:
    """The memo called `name`, or None when this transaction has none."""
    found: dict[Any, Any] | None = session.info.get(_PREFIX + name)
    return found


def remember(session: AsyncSession | Session, name: str, items: dict[Any, Any]) -> None:
    session.info.setdefault(_PREFIX + name, {}).update(items)


def forget(session: AsyncSession | Session | None, name: str) -> None:
    if session is not None:
        session.info.pop(_PREFIX + name, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_all(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None and not transaction.nested:
        return  # the inner transaction every flush opens: the real one goes on
    for key in [key for key in session.info if key.startswith(_PREFIX)]:
        del session.info[key]
