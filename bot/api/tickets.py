"""Tickets over the API: a filtered, cursor-paged list, one ticket with its conversation, a
reply that reaches the customer on their channel through the outbox, an internal note."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.api import schemas
from bot.api.operations import ApiError, Call, Operation, expected_version
from bot.core.delivery.outbox import ReplyBuffer
from bot.core.tickets.service import STAFF, Effects, TicketRefused
from bot.web.files import download
from bot.web.keys import OUTBOX, SESSION_POOL, TICKETS
from storage.models import Ticket
from storage.models import TicketFile as TicketFileRow
from storage.repositories.api import AuditLog
from storage.repositories.files import file_with_bytes, files_of
from storage.repositories.tickets import TicketRepository


def _summary(ticket: Ticket) -> schemas.TicketSummary:
    return schemas.TicketSummary.model_validate(ticket, from_attributes=True)


async def list_tickets(call: Call) -> schemas.TicketPage:
    query: schemas.TicketQuery = call.query
    statement = select(Ticket).order_by(Ticket.id.desc()).limit(query.limit + 1)
    if query.cursor is not None:
        statement = statement.where(Ticket.id < query.cursor)
    for column, value in (
        (Ticket.status, query.status),
        (Ticket.channel, query.channel),
        (Ticket.priority, query.priority),
        (Ticket.assignee_id, query.assignee_id),
        (Ticket.customer_id, query.customer_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    async with call.request.app[SESSION_POOL]() as session:
        rows = list((await session.execute(statement)).scalars())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return schemas.TicketPage(
        items=[_summary(t) for t in rows],
        next_cursor=rows[-1].id if more and rows else None,
    )


def etag(ticket: Ticket) -> str:
    return f'"{ticket.version}"'


async def update_ticket(call: Call) -> schemas.TicketSummary:
    patch: schemas.TicketPatch = call.body
    expected = expected_version(call, "ticket")
    app = call.request.app
    service, outbox = app[TICKETS], app[OUTBOX]
    author = call.caller.name
    async with app[SESSION_POOL]() as session, session.begin():
        tickets = TicketRepository(session)
        if not await tickets.claim_version(call.ids["ticket_id"], expected):
            current = await tickets.get(call.ids["ticket_id"])
            if current is None:
                raise ApiError(404, "no such ticket")
            call.headers["ETag"] = etag(current)
            raise ApiError(412, "the ticket changed since you read it: GET it again")
        ticket = await tickets.get(call.ids["ticket_id"])
        assert ticket is not None
        effects = Effects()
        if patch.reply_channel is not None:
            try:
                chosen = await service.choose_reply_channel(
                    session, ticket, patch.reply_channel, author
                )
            except TicketRefused as exc:
                raise ApiError(409, str(exc), exc.field) from None
            effects.posts += chosen.posts
        if patch.priority is not None and patch.priority != ticket.priority:
            effects.posts += (
                await service.set_priority(session, ticket, patch.priority, author)
            ).posts
        if patch.assignee_name is not None and patch.assignee_name != ticket.assignee_name:
            effects.posts += (
                await service.assign(session, ticket, 0, patch.assignee_name or author)
            ).posts
            ticket.assignee_id = None
            ticket.assignee_name = patch.assignee_name
        if patch.labels is not None:
            effects.posts += (await service.set_labels(session, ticket, patch.labels, author)).posts
        if patch.status == "resolved" and ticket.status not in ("resolved", "closed"):
            effects.posts += (await service.resolve(session, ticket, author)).posts
        elif patch.status == "open" and ticket.status in ("resolved", "closed"):
            effects.posts += (await service.reopen(session, ticket, author)).posts
        elif patch.status == "closed" and ticket.status != "closed":
            await service.close(session, ticket, author)
        AuditLog(session).add(
            call.caller.actor,
            "ticket.update",
            f"ticket:{ticket.id}",
            patch.model_dump(exclude_none=True),
        )
        queued = await outbox.enqueue(session, ReplyBuffer(effects.posts))
        await session.flush()
        summary = _summary(ticket)
        call.headers["ETag"] = etag(ticket)
    await outbox.deliver(queued)
    return summary


async def show_ticket(call: Call) -> schemas.TicketDetail:
    async with call.request.app[SESSION_POOL]() as session:
        tickets = TicketRepository(session)
        ticket = await tickets.get(call.ids["ticket_id"])
        if ticket is None:
            raise ApiError(404, "no such ticket")
        rows = await tickets.messages(ticket.id)
        files = await files_of(session, [m.id for m in rows])
        messages = [
            schemas.TicketMessage(
                id=m.id,
                kind=m.kind,  # type: ignore[arg-type]
                channel=m.channel,
                author=m.author,
                text=m.text,
                attachment_kind=m.attachment_kind,
                files=[_file(f) for f in files.get(m.id, [])],
                created_at=m.created_at,
            )
            for m in rows
        ]
        summary = _summary(ticket).model_dump()
        labels = (await tickets.labels_of([ticket.id])).get(ticket.id, [])
        call.headers["ETag"] = etag(ticket)
    return schemas.TicketDetail(
        **summary,
        csat_score=ticket.csat_score,
        csat_comment=ticket.csat_comment,
        labels=labels,
        messages=messages,
    )


def _file(row: TicketFileRow) -> schemas.TicketFile:
    return schemas.TicketFile(
        id=row.id,
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        url=f"/api/v1/files/{row.id}",
    )


async def show_file(call: Call) -> schemas.TicketFile | web.Response:
    query: schemas.TicketFileQuery = call.query
    async with call.request.app[SESSION_POOL]() as session:
        found = await file_with_bytes(session, call.ids["file_id"])
    if found is None:
        raise ApiError(404, "no such file")
    row, _ticket_id, data = found
    if query.format == "raw":
        return download(row.name, data)
    return _file(row)


async def reply_to_ticket(call: Call) -> schemas.ReplyOut:
    body: schemas.ReplyIn = call.body
    app = call.request.app
    outbox = app[OUTBOX]
    async with app[SESSION_POOL]() as session, session.begin():
        ticket = await TicketRepository(session).get(call.ids["ticket_id"])
        if ticket is None:
            raise ApiError(404, "no such ticket")
        effects = await app[TICKETS].staff_reply(
            session, ticket, call.caller.name, body.text, mirror=True
        )
        sent = [channel for channel, _, _ in effects.posts if channel != STAFF]
        if not sent:
            raise ApiError(409, "the customer has no channel a reply can reach")
        AuditLog(session).add(
            call.caller.actor, "ticket.reply", f"ticket:{ticket.id}", {"channel": sent[0]}
        )
        queued = await outbox.enqueue(session, ReplyBuffer(effects.posts))
    await outbox.deliver(queued)
    return schemas.ReplyOut(ticket_id=ticket.id, channel=sent[0])


async def add_note(call: Call) -> schemas.NoteOut:
    body: schemas.NoteIn = call.body
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        tickets = TicketRepository(session)
        ticket = await tickets.get(call.ids["ticket_id"])
        if ticket is None:
            raise ApiError(404, "no such ticket")
        note = await call.request.app[TICKETS].note(session, ticket, call.caller.name, body.text)
        AuditLog(session).add(call.caller.actor, "ticket.note", f"ticket:{ticket.id}")
    return schemas.NoteOut(ticket_id=ticket.id, message_id=note.id)


async def merge_ticket(call: Call) -> schemas.TicketSummary:
    body: schemas.MergeIn = call.body
    app = call.request.app
    outbox = app[OUTBOX]
    async with app[SESSION_POOL]() as session, session.begin():
        tickets = TicketRepository(session)
        duplicate, target = await tickets.get(call.ids["ticket_id"]), await tickets.get(body.into)
        if duplicate is None:
            raise ApiError(404, "no such ticket")
        if target is None:
            raise ApiError(404, f"no ticket #{body.into} to merge into", "into")
        try:
            effects = await app[TICKETS].merge(session, duplicate, target, call.caller.name)
        except TicketRefused as exc:
            raise ApiError(409, str(exc), exc.field) from None
        AuditLog(session).add(
            call.caller.actor, "ticket.merge", f"ticket:{duplicate.id}", {"into": target.id}
        )
        queued = await outbox.enqueue(session, ReplyBuffer(effects.posts))
        await session.flush()
        summary = _summary(target)
        call.headers["ETag"] = etag(target)
    await outbox.deliver(queued)
    return summary


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/tickets",
        "Tickets, newest first, filtered; cursor-paged",
        list_tickets,
        schemas.TicketPage,
        query=schemas.TicketQuery,
    ),
    Operation(
        "GET",
        "/api/v1/tickets/{ticket_id}",
        "One ticket with every message and note, across channels, in order",
        show_ticket,
        schemas.TicketDetail,
        errors=(404,),
    ),
    Operation(
        "GET",
        "/api/v1/files/{file_id}",
        "A file a customer sent with a ticket message (format=raw: its bytes, as a download)",
        show_file,
        schemas.TicketFile,
        query=schemas.TicketFileQuery,
        errors=(404,),
        alternate="application/octet-stream",
    ),
    Operation(
        "PATCH",
        "/api/v1/tickets/{ticket_id}",
        "Change status, priority, assignee or reply channel; needs If-Match (the ETag)",
        update_ticket,
        schemas.TicketSummary,
        body=schemas.TicketPatch,
        errors=(400, 404, 409, 412, 413, 428),
        if_match=True,
    ),
    Operation(
        "POST",
        "/api/v1/tickets/{ticket_id}/reply",
        "Answer the customer on their channel (the one staff chose, else the one used last)",
        reply_to_ticket,
        schemas.ReplyOut,
        body=schemas.ReplyIn,
        status=202,
        errors=(400, 404, 409, 413),
    ),
    Operation(
        "POST",
        "/api/v1/tickets/{ticket_id}/notes",
        "An internal note on the ticket, sent nowhere",
        add_note,
        schemas.NoteOut,
        body=schemas.NoteIn,
        status=201,
        errors=(400, 404, 413),
    ),
    Operation(
        "POST",
        "/api/v1/tickets/{ticket_id}/merge",
        "Close this ticket into another of the same customer; later messages go there",
        merge_ticket,
        schemas.TicketSummary,
        body=schemas.MergeIn,
        errors=(400, 404, 409, 413),
    ),
]
