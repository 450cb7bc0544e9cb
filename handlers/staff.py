"""The staff group: messages in a ticket's topic (or replies to its posts) go to the customer,
`!notes` stay internal, commands change the ticket. Thin: TicketService does the work."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PRIORITIES
from bot.core.buttons import (
    STAFF_BUTTONS,
    DetractorTicket,
    ResolveTicket,
    SetPriority,
    TakeTicket,
    decode,
)
from bot.core.delivery.outbox import ReplyBuffer
from bot.core.messages import Reply
from bot.core.tickets.linking import Linking
from bot.core.tickets.service import Effects, TicketRefused, TicketService
from bot.core.untrusted import parse_id
from handlers.translate import attachment_of, display_name
from storage.models import Customer, SurveyResponse, Ticket
from storage.repositories.tickets import CannedRepository, StaffPostRepository, TicketRepository

REFUSAL = "Sorry, only the support team can act on tickets."
NOT_RELAYED = (
    "⚠️ This {kind} cannot be sent to the customer: nothing was relayed. Send text, a photo or "
    "a document instead."
)
_KIND_NAMES = {"voice": "voice message", "video_note": "video message", "animation": "GIF"}


class StaffDirectory(Protocol):
    """Who is staff, as the channel package knows it (asked of Telegram before the update's
    transaction; see bot.channels.telegram.staff_directory)."""

    @property
    def chat_id(self) -> int: ...

    async def is_staff(self, user_id: int) -> bool: ...

    def first_refusal(self, user_id: int) -> bool: ...


def create_staff_router(staff: StaffDirectory) -> Router:
    router = Router(name="staff")

    async def in_staff_chat(event: Message | CallbackQuery) -> bool:
        message = event.message if isinstance(event, CallbackQuery) else event
        return message is not None and message.chat.id == staff.chat_id

    router.message.filter(in_staff_chat)
    router.callback_query.filter(in_staff_chat)
    router.message.register(on_staff_message)
    router.callback_query.register(on_staff_button)
    return router


async def _ticket_of(session: AsyncSession, message: Message) -> Ticket | None:
    tickets = TicketRepository(session)
    if message.is_topic_message and message.message_thread_id:
        ticket = await tickets.by_thread(message.message_thread_id)
        if ticket is not None:
            return ticket
    if message.reply_to_message is not None:
        ticket_id = await StaffPostRepository(session).ticket_of(
            message.reply_to_message.message_id
        )
        if ticket_id is not None:
            return await tickets.get(ticket_id)
    return None


async def on_staff_message(
    message: Message,
    session: AsyncSession,
    tickets: TicketService,
    linking: Linking,
    staff_directory: StaffDirectory,
    replies: ReplyBuffer,
) -> None:
    user = message.from_user
    if user is None or user.is_bot:
        return
    ticket = await _ticket_of(session, message)
    if ticket is None:
        return  # general chat of the staff group: not ours
    effects = Effects()
    if not await staff_directory.is_staff(user.id):
        if staff_directory.first_refusal(user.id):
            effects.staff(ticket, Reply(REFUSAL))
            replies.add_posts(effects.posts)
        return
    author = display_name(user) or str(user.id)
    text = message.text or message.caption or ""
    attachment = attachment_of(message)
    if not text and attachment is None:
        # A sticker, a voice message, a video...: no channel relays it, so say so.
        content = str(getattr(message.content_type, "value", message.content_type))
        kind = _KIND_NAMES.get(content, content.replace("_", " "))
        effects.staff(ticket, Reply(NOT_RELAYED.format(kind=kind)))
    elif text.startswith("!"):
        await tickets.note(session, ticket, author, text[1:].strip())
    elif text.startswith("/"):
        effects = await _command(session, tickets, linking, ticket, author, user.id, text)
    else:
        effects = await tickets.staff_reply(session, ticket, author, text, attachment)
    replies.add_posts(effects.posts)


async def _said_if_refused(ticket: Ticket, action: Awaitable[Effects]) -> Effects:
    """A refusal is told in the topic, in the service's words."""
    try:
        return await action
    except TicketRefused as exc:
        effects = Effects()
        effects.staff(ticket, Reply(str(exc)))
        return effects


async def _same_customer(
    session: AsyncSession, linking: Linking, ticket: Ticket, author: str, argument: str
) -> Effects:
    """`/samecustomer N`: the customer of ticket #N is this ticket's customer (another
    channel of the same person): one customer from now on, recorded."""
    effects = Effects()
    other_id = parse_id(argument.lstrip("#"))
    other = await TicketRepository(session).get(other_id) if other_id is not None else None
    if other is None:
        effects.staff(ticket, Reply("Usage: /samecustomer N, N being the other ticket's number."))
        return effects
    if other.customer_id == ticket.customer_id:
        effects.staff(ticket, Reply(f"#{other.id} is already this customer's ticket."))
        return effects
    source = await session.get(Customer, other.customer_id)
    target = await session.get(Customer, ticket.customer_id)
    if source is None or target is None:
        return effects
    source_id = source.id
    effects = await linking.merge(session, source, target, author)
    effects.staff(
        ticket,
        Reply(
            f"🔗 {author}: the customer of #{other.id} is this customer now (customer "
            f"{source_id} merged into {target.id}; `otklik customers show {target.id}`)."
        ),
    )
    return effects


async def _command(
    session: AsyncSession,
    tickets: TicketService,
    linking: Linking,
    ticket: Ticket,
    author: str,
    user_id: int,
    text: str,
) -> Effects:
    command, _, argument = text[1:].partition(" ")
    command = command.split("@")[0].lower()
    argument = argument.strip()
    if command == "samecustomer":
        return await _same_customer(session, linking, ticket, author, argument)
    if command == "resolve":
        return await tickets.resolve(session, ticket, author)
    if command == "reopen":
        return await tickets.reopen(session, ticket, author)
    if command == "assign":
        return await tickets.assign(session, ticket, user_id, argument or author)
    if command == "priority" and argument in PRIORITIES:
        return await tickets.set_priority(session, ticket, argument, author)
    if command == "via":
        channel = "" if argument.lower() in ("", "last") else argument.lower()
        return await _said_if_refused(
            ticket, tickets.choose_reply_channel(session, ticket, channel, author)
        )
    merge_with = parse_id(argument.lstrip("#"))
    if command == "merge" and merge_with is not None:
        target = await TicketRepository(session).get(merge_with)
        if target is not None:
            return await _said_if_refused(ticket, tickets.merge(session, ticket, target, author))
    if command == "canned":
        canned = CannedRepository(session)
        if argument:
            reply = await canned.get(argument)
            if reply is not None:
                return await tickets.staff_reply(session, ticket, author, reply.text)
        names = ", ".join(c.name for c in await canned.all()) or "none yet (otklik canned add)"
        effects = Effects()
        effects.staff(ticket, Reply(f"Canned replies: {names}. Use /canned NAME."))
        return effects
    effects = Effects()
    effects.staff(
        ticket,
        Reply(
            "Commands: /resolve, /reopen, /assign [name], "
            f"/priority {'|'.join(PRIORITIES)}, /merge ID, /canned [NAME], "
            "/via CHANNEL (where replies go; /via last: where the customer wrote last); "
            "start a line with ! for a note."
        ),
    )
    return effects


async def _detractor_ticket(
    session: AsyncSession,
    tickets: TicketService,
    staff_directory: StaffDirectory,
    replies: ReplyBuffer,
    query: CallbackQuery,
    response_id: int,
) -> None:
    """Open (once) a ticket for a detractor's answer, taken by whoever pressed, linked to it."""
    response = await session.get(SurveyResponse, response_id)
    if response is None or response.customer_id is None:
        return
    if not await staff_directory.is_staff(query.from_user.id):
        return
    customer = await session.get(Customer, response.customer_id)
    if customer is None:
        return
    if response.ticket_id is None:
        text = f"NPS {response.score}/10" + (f": {response.comment}" if response.comment else "")
        ticket, _, effects = await tickets.open(
            session, customer, customer.last_channel, customer.language, text
        )
        response.ticket_id = ticket.id
        author = display_name(query.from_user) or str(query.from_user.id)
        effects.posts.extend(
            (await tickets.assign(session, ticket, query.from_user.id, author)).posts
        )
        replies.add_posts(effects.posts)


async def on_staff_button(
    query: CallbackQuery,
    session: AsyncSession,
    tickets: TicketService,
    staff_directory: StaffDirectory,
    replies: ReplyBuffer,
) -> None:
    tapped = decode(query.data or "", STAFF_BUTTONS)
    if isinstance(tapped, DetractorTicket):
        await _detractor_ticket(
            session, tickets, staff_directory, replies, query, tapped.response_id
        )
        return
    if not isinstance(tapped, TakeTicket | ResolveTicket | SetPriority):
        return
    ticket = await TicketRepository(session).get(tapped.ticket_id)
    if ticket is None:
        return
    effects = Effects()
    if not await staff_directory.is_staff(query.from_user.id):
        if staff_directory.first_refusal(query.from_user.id):
            effects.staff(ticket, Reply(REFUSAL))
            replies.add_posts(effects.posts)
        return
    author = display_name(query.from_user) or str(query.from_user.id)
    match tapped:
        case TakeTicket():
            effects = await tickets.assign(session, ticket, query.from_user.id, author)
        case ResolveTicket():
            effects = await tickets.resolve(session, ticket, author)
        case SetPriority(priority=priority) if priority in PRIORITIES:
            effects = await tickets.set_priority(session, ticket, priority, author)
    replies.add_posts(effects.posts)
