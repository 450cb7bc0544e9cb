"""Retention: delete what is older than configured, a few hundred rows per transaction.

Conversation logs hold what customers wrote; inbound events and outbox rows exist to make
redeliveries no-ops and sends durable, and are dead weight once handled. Each batch is its own
short transaction, so pruning a big backlog never holds a long lock or starves other writers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    ConversationMessage,
    InboundEvent,
    LinkView,
    OutboxMessage,
    WebChatMessage,
)

_CONVERSATION = cast(Table, ConversationMessage.__table__)
_WEBCHAT = cast(Table, WebChatMessage.__table__)
_EVENTS = cast(Table, InboundEvent.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_VIEWS = cast(Table, LinkView.__table__)


@dataclass(frozen=True)
class RetentionPolicy:
    conversation_days: int
    handled_days: int
    batch: int = 500
    max_batches: int = 200


def _targets(
    policy: RetentionPolicy, now: datetime
) -> list[tuple[str, Table, Callable[[], ColumnElement[bool]]]]:
    targets: list[tuple[str, Table, Callable[[], ColumnElement[bool]]]] = []
    if policy.conversation_days:
        cutoff = now - timedelta(days=policy.conversation_days)
        targets.append(("conversation", _CONVERSATION, lambda: _CONVERSATION.c.created_at < cutoff))
        targets.append(("webchat", _WEBCHAT, lambda: _WEBCHAT.c.created_at < cutoff))
    if policy.handled_days:
        handled = now - timedelta(days=policy.handled_days)
        targets.append(
            (
                "inbound_events",
                _EVENTS,
                lambda: (_EVENTS.c.received_at < handled) & (_EVENTS.c.status != "pending"),
            )
        )
        targets.append(
            (
                "outbox",
                _OUTBOX,
                lambda: (
                    (_OUTBOX.c.created_at < handled)
                    & _OUTBOX.c.status.in_(("sent", "blocked", "failed"))
                ),
            )
        )
        # Survey link views only tell a scanner's burst of clicks apart, within a minute.
        targets.append(("link_views", _VIEWS, lambda: _VIEWS.c.seen_at < handled))
    return targets


async def prune(
    pool: async_sessionmaker[AsyncSession], policy: RetentionPolicy, now: datetime
) -> dict[str, int]:
    """Delete expired rows; returns how many per kind. Stops after `max_batches` per kind (the
    next run goes on), so one run's work is bounded."""
    deleted: dict[str, int] = {}
    for name, table, expired in _targets(policy, now):
        total = 0
        for _ in range(policy.max_batches):
            oldest = select(table.c.id).where(expired()).order_by(table.c.id).limit(policy.batch)
            async with pool() as session, session.begin():
                result = await session.execute(
                    delete(table).where(table.c.id.in_(oldest.scalar_subquery()))
                )
            count = int(getattr(result, "rowcount", 0) or 0)
            total += count
            if count < policy.batch:
                break
            await asyncio.sleep(0)  # other work gets the loop between batches
        deleted[name] = total
    return deleted
