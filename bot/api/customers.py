"""Customers over the API: search, one customer with every channel and the whole history,
and, for admins, the export and erasure a person may ask for."""

from __future__ import annotations

import json

from sqlalchemy import or_, select

from bot.api import schemas
from bot.api.operations import ApiError, Call, Operation
from bot.core import customer_import
from bot.web.keys import SESSION_POOL, SETTINGS
from storage.models import ChannelIdentity, ConversationMessage, Customer
from storage.repositories.api import AuditLog
from storage.repositories.customers import CustomerRepository
from storage.repositories.privacy import erase_customer, export_customer


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_customers(call: Call) -> schemas.CustomerList:
    query: schemas.CustomerQuery = call.query
    by_identity = select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == query.q)
    statement = (
        select(Customer)
        .where(
            or_(
                Customer.display_name.ilike(_like(query.q), escape="\\"),
                Customer.id.in_(by_identity),
            ),
            Customer.merged_into.is_(None),
        )
        .order_by(Customer.id.desc())
        .limit(query.limit)
    )
    async with call.request.app[SESSION_POOL]() as session:
        rows = (await session.execute(statement)).scalars().all()
        items = [schemas.CustomerSummary.model_validate(r, from_attributes=True) for r in rows]
    return schemas.CustomerList(items=items)


async def show_customer(call: Call) -> schemas.CustomerDetail:
    customer_id = call.ids["customer_id"]
    async with call.request.app[SESSION_POOL]() as session:
        card = await CustomerRepository(session).card(customer_id)
        if card is None:
            raise ApiError(404, "no such customer")
        history = (
            await session.execute(
                select(ConversationMessage)
                .where(ConversationMessage.customer_id == customer_id)
                .order_by(ConversationMessage.id.desc())
                .limit(500)
            )
        ).scalars()
        summary = schemas.CustomerSummary.model_validate(card.customer, from_attributes=True)
        return schemas.CustomerDetail(
            **summary.model_dump(),
            identities=[schemas.Identity(channel=c, external_id=e) for c, e in card.identities],
            ticket_ids=[ticket_id for ticket_id, _, _ in card.tickets],
            history=[
                schemas.HistoryItem.model_validate(m, from_attributes=True)
                for m in reversed(list(history))
            ],
        )


async def export(call: Call) -> schemas.CustomerExport:
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        data = await export_customer(session, call.ids["customer_id"])
        if data is None:
            raise ApiError(404, "no such customer")
        AuditLog(session).add(
            call.caller.actor, "customer.export", f"customer:{call.ids['customer_id']}"
        )
    return schemas.CustomerExport.model_validate(json.loads(json.dumps(data, default=str)))


async def erase(call: Call) -> schemas.Erased:
    customer_id = call.ids["customer_id"]
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        erased = await erase_customer(session, customer_id)
        if erased is None:
            raise ApiError(404, "no such customer")
        AuditLog(session).add(
            call.caller.actor, "customer.erase", f"customer:{customer_id}", erased
        )
    return schemas.Erased(customer_id=customer_id, erased=erased)


async def import_customers(call: Call) -> schemas.ImportReport:
    """As `otklik customers import`: nothing is imported while a row is bad, unless asked."""
    body: schemas.CustomerImport = call.body
    settings = call.request.app[SETTINGS]
    rows, bad = customer_import.parse(body.csv, settings.bot.default_language)
    if bad and not (body.skip_bad and rows):
        listed = "; ".join(f"line {row.line}: {row.reason}" for row in bad[:20])
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise ApiError(422, f"{len(bad)} bad rows, nothing imported: {listed}{more}", "csv")
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        result = await customer_import.apply(session, rows)
        detail = {"created": result.created, "updated": result.updated, "bad": len(bad)}
        AuditLog(session).add(call.caller.actor, "customer.import", "csv", detail)
    return schemas.ImportReport(
        created=result.created,
        updated=result.updated,
        skipped=[schemas.BadRow(line=row.line, reason=row.reason) for row in bad],
        may_be_emailed=sum(row.consent for row in rows),
    )


OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/customers/import",
        "Add or update customers from a CSV file (an email address is an identity)",
        import_customers,
        schemas.ImportReport,
        roles=("admin",),
        body=schemas.CustomerImport,
        errors=(400, 413),
        max_body=8 * 1024 * 1024,
    ),
    Operation(
        "GET",
        "/api/v1/customers",
        "Find customers by part of the name or a channel's user id",
        search_customers,
        schemas.CustomerList,
        query=schemas.CustomerQuery,
    ),
    Operation(
        "GET",
        "/api/v1/customers/{customer_id}",
        "A customer with every channel, ticket and the conversation across channels",
        show_customer,
        schemas.CustomerDetail,
        errors=(404,),
    ),
    Operation(
        "GET",
        "/api/v1/customers/{customer_id}/export",
        "Everything held about the customer (a request for their data)",
        export,
        schemas.CustomerExport,
        roles=("admin",),
        errors=(404,),
    ),
    Operation(
        "DELETE",
        "/api/v1/customers/{customer_id}",
        "Erase the customer on request: messages and identities deleted, scores kept anonymous",
        erase,
        schemas.Erased,
        roles=("admin",),
        errors=(404,),
    ),
]
