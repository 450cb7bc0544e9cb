"""Making two customers one: everything of `source` moves to `target`, in one transaction.

The source row stays (`merged_into` set, no identities left) and the audit row lists what
moved, so a wrong merge can be read and undone by hand.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ChannelIdentity,
    ConversationMessage,
    Customer,
    CustomerMerge,
    Delivery,
    FaqFeedback,
    SurveyResponse,
    Ticket,
)
from storage.repositories._memo import forget
from storage.repositories.customer_months import merge_months

_MOVED = {
    "conversation_messages": ConversationMessage,
    "faq_feedback": FaqFeedback,
    "tickets": Ticket,
    "survey_responses": SurveyResponse,
}


async def merge_customers(
    session: AsyncSession, source: Customer, target: Customer, by: str, now: datetime
) -> CustomerMerge:
    identities = (
        await session.execute(
            select(ChannelIdentity.id, ChannelIdentity.channel, ChannelIdentity.external_id).where(
                ChannelIdentity.customer_id == source.id
            )
        )
    ).all()
    details: dict[str, Any] = {
        "identities": [
            {"id": i, "channel": channel, "external_id": external_id}
            for i, channel, external_id in identities
        ],
        "source": {
            "display_name": source.display_name,
            "language": source.language,
            "last_channel": source.last_channel,
            "surveys_opted_out": source.surveys_opted_out,
            "survey_throttle_days": source.survey_throttle_days,
            "tags": source.tags,
        },
        "moved": {},
    }
    await session.execute(
        update(ChannelIdentity)
        .where(ChannelIdentity.customer_id == source.id)
        .values(customer_id=target.id)
    )
    for name, model in _MOVED.items():
        table = cast(Table, model.__table__)
        moved = await session.execute(
            update(table).where(table.c.customer_id == source.id).values(customer_id=target.id)
        )
        details["moved"][name] = int(getattr(moved, "rowcount", 0) or 0)
    # One delivery per customer and campaign run: where both were asked, the target's stays.
    deliveries = cast(Table, Delivery.__table__)
    other = deliveries.alias("other")
    moved = await session.execute(
        update(deliveries)
        .where(
            deliveries.c.customer_id == source.id,
            ~exists().where(
                and_(
                    other.c.customer_id == target.id,
                    other.c.campaign_id == deliveries.c.campaign_id,
                    other.c.run_key == deliveries.c.run_key,
                )
            ),
        )
        .values(customer_id=target.id)
    )
    details["moved"]["deliveries"] = int(getattr(moved, "rowcount", 0) or 0)
    # The months either was active in are the one customer's months.
    await merge_months(session, source.id, target.id)
    target.active_month = max(
        (m for m in (target.active_month, source.active_month) if m), default=None
    )
    # One person: opted out if either said so, throttled by the longer, last surveyed last.
    target.surveys_opted_out = target.surveys_opted_out or source.surveys_opted_out
    throttles = [d for d in (target.survey_throttle_days, source.survey_throttle_days) if d]
    target.survey_throttle_days = max(throttles) if throttles else None
    surveyed = [d for d in (target.last_surveyed_at, source.last_surveyed_at) if d is not None]
    target.last_surveyed_at = max(surveyed) if surveyed else None
    target.unreachable = target.unreachable and source.unreachable
    blocked = {c for c in f"{target.blocked_channels},{source.blocked_channels}".split(",") if c}
    target.blocked_channels = ",".join(sorted(blocked))[:256]
    target.display_name = target.display_name or source.display_name
    tags = [t for t in (target.tags + "\n" + source.tags).splitlines() if t]
    target.tags = "\n".join(dict.fromkeys(tags))
    source.merged_into = target.id
    source.pending_action = None
    record = CustomerMerge(
        source_id=source.id,
        target_id=target.id,
        by=by[:128],
        details=json.dumps(details, ensure_ascii=False, default=str),
        created_at=now,
    )
    session.add(record)
    await session.flush()
    # What this transaction remembered about who is behind an identity is now wrong.
    forget(session, "customers")
    forget(session, "open_tickets")
    return record
