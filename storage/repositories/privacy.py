"""Everything held about one customer: exported on request, or erased on request.

Erasure deletes what identifies or quotes the person (channel identities, the conversation,
ticket messages, survey comments, queued messages, link codes, merge details) and blanks the
customer row, which stays so ticket and survey counts in reports stay right: tickets keep their
times and states with an empty subject; survey scores stay as anonymous answers (no customer,
no comment). Inbound event payloads go with retention (`[retention] handled_days`)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.identities import shown_id
from storage.models import (
    ChannelIdentity,
    ConversationMessage,
    Customer,
    CustomerMerge,
    Delivery,
    FaqFeedback,
    LinkCode,
    OutboxMessage,
    SurveyResponse,
    Ticket,
    TicketMessage,
    VkClient,
    WebChatMessage,
    WhatsAppContact,
)


def _row(obj: Any, *skip: str) -> dict[str, Any]:
    return {
        column.key: getattr(obj, column.key)
        for column in obj.__table__.columns
        if column.key not in skip
    }


async def export_customer(session: AsyncSession, customer_id: int) -> dict[str, Any] | None:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None

    async def rows(model: Any, *where: Any, order: Any = None) -> list[dict[str, Any]]:
        statement = select(model).where(*where)
        if order is not None:
            statement = statement.order_by(order)
        return [_row(r) for r in (await session.execute(statement)).scalars()]

    tickets = await rows(Ticket, Ticket.customer_id == customer_id, order=Ticket.id)
    ticket_ids = [t["id"] for t in tickets]
    messages = (
        await rows(TicketMessage, TicketMessage.ticket_id.in_(ticket_ids), order=TicketMessage.id)
        if ticket_ids
        else []
    )
    for ticket in tickets:
        ticket["messages"] = [m for m in messages if m["ticket_id"] == ticket["id"]]
    identities = await rows(
        ChannelIdentity, ChannelIdentity.customer_id == customer_id, order=ChannelIdentity.id
    )
    deliveries = await rows(Delivery, Delivery.customer_id == customer_id, order=Delivery.id)
    # A web chat session id is the visitor's credential: an export never carries it.
    for row in identities:
        row["external_id"] = shown_id(row["channel"], row["external_id"])
    for row in deliveries:
        row["recipient"] = shown_id(row["channel"], row["recipient"])
    return {
        "customer": _row(customer),
        "identities": identities,
        "conversation": await rows(
            ConversationMessage,
            ConversationMessage.customer_id == customer_id,
            order=ConversationMessage.id,
        ),
        "tickets": tickets,
        "survey_responses": await rows(
            SurveyResponse, SurveyResponse.customer_id == customer_id, order=SurveyResponse.id
        ),
        "survey_deliveries": deliveries,
        "faq_votes": await rows(FaqFeedback, FaqFeedback.customer_id == customer_id),
        "merges": await rows(
            CustomerMerge,
            or_(CustomerMerge.source_id == customer_id, CustomerMerge.target_id == customer_id),
            order=CustomerMerge.id,
        ),
    }


async def erase_customer(session: AsyncSession, customer_id: int) -> dict[str, int] | None:
    """Erase one customer (see the module's docstring); returns what was touched, by kind."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None
    done: dict[str, int] = {}

    async def run(name: str, statement: Any) -> None:
        result = await session.execute(statement.execution_options(synchronize_session=False))
        done[name] = int(getattr(result, "rowcount", 0) or 0)

    identities = (
        await session.execute(
            select(ChannelIdentity.channel, ChannelIdentity.external_id).where(
                ChannelIdentity.customer_id == customer_id
            )
        )
    ).all()
    for channel, external_id in identities:
        await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.channel == channel, OutboxMessage.recipient == external_id
            )
        )
        if channel == "whatsapp":
            await session.execute(
                delete(WhatsAppContact).where(WhatsAppContact.wa_id == external_id)
            )
        if channel == "vk":
            await session.execute(delete(VkClient).where(VkClient.peer_id == external_id))
    await run(
        "webchat",
        delete(WebChatMessage).where(
            WebChatMessage.session.in_([e for c, e in identities if c == "webchat"])
        ),
    )
    tickets = select(Ticket.id).where(Ticket.customer_id == customer_id).scalar_subquery()
    await run("ticket_messages", delete(TicketMessage).where(TicketMessage.ticket_id.in_(tickets)))
    await run(
        "tickets",
        update(Ticket)
        .where(Ticket.customer_id == customer_id)
        .values(subject="", csat_comment=None, assignee_name=""),
    )
    await run("faq_votes", delete(FaqFeedback).where(FaqFeedback.customer_id == customer_id))
    await run(
        "conversation",
        delete(ConversationMessage).where(ConversationMessage.customer_id == customer_id),
    )
    await run(
        "survey_responses",
        update(SurveyResponse)
        .where(SurveyResponse.customer_id == customer_id)
        .values(customer_id=None, comment=None, ticket_id=None),
    )
    await run(
        "survey_deliveries",
        update(Delivery).where(Delivery.customer_id == customer_id).values(recipient=""),
    )
    await run("link_codes", delete(LinkCode).where(LinkCode.customer_id == customer_id))
    await run(
        "merges",
        update(CustomerMerge)
        .where(or_(CustomerMerge.source_id == customer_id, CustomerMerge.target_id == customer_id))
        .values(details=json.dumps({"erased": True})),
    )
    await run(
        "identities", delete(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)
    )
    customer.display_name = ""
    customer.tags = ""
    customer.timezone = ""
    customer.pending_action = None
    customer.blocked_channels = ""
    customer.unreachable = True  # nothing left to reach them on
    customer.surveys_opted_out = True
    return done
