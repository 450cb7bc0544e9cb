"""Tickets: open, route, relay between customer and staff, resolve, ask for CSAT.

Every operation returns the posts it causes as (channel, recipient, Reply) so the caller queues
them in the outbox within the same transaction. The staff side is the channel "staff" with the
ticket id as recipient; which chat and topic that means is the staff sender's business.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import TicketsConfig
from bot.core.buttons import Cancel, CsatScore, ResolveTicket, SetPriority, TakeTicket
from bot.core.delivery import webhooks
from bot.core.hours import WorkingHours
from bot.core.hours_text import expectation
from bot.core.messages import Attachment, Button, KeptFile, Reply
from bot.core.texts import t
from bot.core.tickets.labels import parse_labels
from bot.core.tickets.routing import route
from bot.core.work_clock import working_seconds
from storage.models import Customer, SurveyResponse, Ticket, TicketMessage, utcnow
from storage.repositories.conversation import ConversationLog, message_row
from storage.repositories.customers import CustomerRepository, blocked_channels
from storage.repositories.reports import add_response
from storage.repositories.tickets import RuleRepository, TicketRepository

STAFF = "staff"
Post = tuple[str, str, Reply]
RECAP_LABELS = {"customer": "👤", "staff": "🧑‍💼", "note": "📝", "system": "⚙️"}
RECAP_MESSAGES = 100  # the newest ones, if a ticket has more


class TicketRefused(Exception):
    """A staff action the ticket's rules do not allow. Each adapter maps it its own way (a 409
    naming `field`, exit code 2, a page message, a post in the topic); none re-checks the rule."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Effects:
    """What an operation wants sent: to the customer and to the staff topic."""

    posts: list[Post] = field(default_factory=list)

    def staff(self, ticket: Ticket, reply: Reply) -> None:
        self.posts.append((STAFF, str(ticket.id), reply))


def staff_buttons(ticket: Ticket) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button("✋ Take", TakeTicket(ticket.id).pack()),
            Button("⬆️ Urgent", SetPriority(ticket.id, "urgent").pack()),
            Button("✅ Resolve", ResolveTicket(ticket.id).pack()),
        ),
    )


def topic_name(ticket: Ticket, customer: Customer) -> str:
    """`#<id> · <customer> · <category>`, within Telegram's 128-character limit."""
    name = customer.display_name or f"customer {customer.id}"
    return f"#{ticket.id} · {name[:60]} · {ticket.category[:40]}"


class TicketService:
    def __init__(
        self,
        hours: WorkingHours,
        config: TicketsConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._hours = hours
        self._config = config
        self._clock = clock

    @property
    def hours(self) -> WorkingHours:
        """The calendar due times are set in (and reports count working time by)."""
        return self._hours

    def _took(self, ticket: Ticket, moment: datetime) -> tuple[float, float]:
        """Seconds from the ticket's opening to `moment`: wall clock, and working hours."""
        opened = ticket.created_at
        return (moment - opened).total_seconds(), working_seconds(self._hours, opened, moment)

    def _deadline(self, now: datetime, minutes: int) -> datetime | None:
        return self._hours.deadline(now, timedelta(minutes=minutes))

    async def open(
        self,
        session: AsyncSession,
        customer: Customer,
        channel: str,
        language: str,
        text: str,
        attachment: Attachment | None = None,
        files: Sequence[KeptFile] = (),
    ) -> tuple[Ticket, Reply, Effects]:
        now = self._clock()
        rules = await RuleRepository(session).ordered()
        routing = route(rules, text, channel, language, self._config.urgent_words)
        ticket = Ticket(
            customer_id=customer.id,
            channel=channel,
            status="new",
            priority=routing.priority,
            category=routing.category,
            subject=text.strip().splitlines()[0][:200] if text.strip() else "(attachment)",
            assignee_id=routing.assignee_id,
            matched_rule_id=routing.rule_id,
            alerts_sent="",
            assignee_name="",
            due_at=self._deadline(
                now, self._config.first_response_minutes.for_priority(routing.priority)
            ),
            resolve_due_at=self._deadline(
                now, self._config.resolution_minutes.for_priority(routing.priority)
            ),
            created_at=now,
            updated_at=now,
        )
        tickets = TicketRepository(session)
        await tickets.add(ticket)
        if routing.labels:
            await tickets.set_labels(ticket.id, routing.labels)
        await webhooks.emit(session, "ticket.created", _event(ticket))
        await tickets.add_message(
            ticket,
            "customer",
            text,
            customer.display_name,
            _pair(attachment),
            ticket.channel,
            now,
            files,
        )
        line, _ = expectation(self._hours, now, language, reply_by=ticket.due_at)
        reply = Reply(t("ticket_opened", language, id=ticket.id, text=text, expectation=line))
        effects = Effects()
        effects.staff(ticket, await self._card(session, ticket, customer, language, text))
        if attachment is not None:
            effects.staff(ticket, Reply("", attachment=attachment))
        return ticket, reply, effects

    async def _card(
        self, session: AsyncSession, ticket: Ticket, customer: Customer, language: str, text: str
    ) -> Reply:
        earlier = [
            f"#{other.id}"
            for other in await TicketRepository(session).for_customer(customer.id)
            if other.id != ticket.id
        ]
        due = (
            ticket.due_at.astimezone(self._hours.zone).strftime("%d.%m %H:%M")
            if ticket.due_at
            else "—"
        )
        lines = [
            f"Customer: {customer.display_name or '—'} (id {customer.id})",
            f"Channel: {ticket.channel} · Language: {language}",
            f"Priority: {ticket.priority} · Category: {ticket.category}",
            f"Earlier tickets: {', '.join(earlier[:10]) or 'none'}",
            f"First reply due: {due}",
            "",
            text,
        ]
        return Reply(
            "\n".join(lines), title=topic_name(ticket, customer), buttons=staff_buttons(ticket)
        )

    async def recap(self, session: AsyncSession, ticket_id: int) -> Reply | None:
        """The card and the whole conversation so far, for a staff topic made anew (someone
        deleted the old one): staff must not lose what the customer already said."""
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None:
            return None
        card = await self._card(session, ticket, customer, customer.language, "")
        history = [
            f"{m.created_at.astimezone(self._hours.zone):%d.%m %H:%M} "
            f"{RECAP_LABELS.get(m.kind, m.kind)}{f' ({m.author})' if m.author else ''}: "
            f"{m.text or '[' + (m.attachment_kind or 'attachment') + ']'}"
            for m in await TicketRepository(session).messages(ticket.id)
        ]
        text = card.text.rstrip() + "\n\n🗂 The topic was made anew. The conversation so far:\n"
        return Reply(
            text + "\n".join(history[-RECAP_MESSAGES:]), title=card.title, buttons=card.buttons
        )

    async def customer_message(
        self,
        session: AsyncSession,
        ticket: Ticket,
        customer: Customer,
        text: str,
        attachment: Attachment | None = None,
        files: Sequence[KeptFile] = (),
    ) -> tuple[Reply, Effects]:
        channel = customer.last_channel  # the one this message came by
        await TicketRepository(session).add_message(
            ticket,
            "customer",
            text,
            customer.display_name,
            _pair(attachment),
            channel,
            self._clock(),
            files,
        )
        if ticket.status == "waiting":
            ticket.status = "open"
        effects = Effects()
        name = customer.display_name or f"customer {customer.id}"
        # Staff see when the customer moved to another channel than the ticket's.
        via = f" · {channel}" if channel and channel != ticket.channel else ""
        effects.staff(ticket, Reply(text, title=f"💬 {name}{via}", attachment=attachment))
        return Reply(t("ticket_added", customer.language, id=ticket.id)), effects

    async def _customer_address(
        self, session: AsyncSession, ticket: Ticket
    ) -> tuple[Customer, str, str] | None:
        """The customer and where to reach them: the channel staff chose for this ticket, else
        the one the customer used last, else the ticket's own, else any other they have;
        channels they blocked only when nothing else is left."""
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None:
            return None
        repository = CustomerRepository(session)
        blocked = blocked_channels(customer)
        # Blocked channels last: a reply there is refused, but it tells staff so.
        candidates = [ticket.reply_channel, customer.last_channel, ticket.channel]
        candidates += [c for c in await repository.channels(customer.id) if c not in blocked]
        for channel in sorted(dict.fromkeys(candidates), key=lambda c: c in blocked):
            if not channel:
                continue
            external_id = await repository.external_id(customer.id, channel)
            if external_id is not None:
                return customer, channel, external_id
        return None

    async def staff_reply(
        self,
        session: AsyncSession,
        ticket: Ticket,
        author: str,
        text: str,
        attachment: Attachment | None = None,
        *,
        mirror: bool = False,
    ) -> Effects:
        """`mirror`: written elsewhere than the staff topic (CLI, web inbox), so the topic
        gets a copy and both show the same conversation."""
        effects = Effects()
        address = await self._customer_address(session, ticket)
        if address is None:
            effects.staff(ticket, Reply("⚠️ The customer has no reachable channel."))
            return effects
        customer, channel, external_id = address
        now = self._clock()
        await TicketRepository(session).add_message(
            ticket, "staff", text, author, _pair(attachment), channel, now
        )
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            ticket.first_response_seconds, ticket.first_response_work_seconds = self._took(
                ticket, now
            )
        if ticket.status in ("new", "open"):
            ticket.status = "waiting"
        body = t("staff_reply", customer.language, name=author, text=text) if text else ""
        # The relay is part of the customer's history on every channel, not only the ticket's.
        await ConversationLog(session).add(
            message_row(customer.id, channel, "out", body or "[attachment]")
        )
        effects.posts.append((channel, external_id, Reply(body, attachment=attachment)))
        if mirror:
            effects.staff(ticket, Reply(text, title=f"🧑‍💼 {author} → {channel}"))
        if ticket.status in ("resolved", "closed"):
            effects.staff(
                ticket,
                Reply(
                    f"ℹ️ Ticket #{ticket.id} is {ticket.status}: this message was sent to the "
                    "customer anyway. /reopen to reopen it."
                ),
            )
        return effects

    async def choose_reply_channel(
        self, session: AsyncSession, ticket: Ticket, channel: str, author: str
    ) -> Effects:
        """Staff pick where their replies go; "" goes back to the channel used last."""
        channels = await CustomerRepository(session).channels(ticket.customer_id)
        if channel and channel not in channels:
            known = ", ".join(channels) or "none"
            raise TicketRefused(
                f"The customer has no {channel} address. Their channels: {known}.",
                "reply_channel",
            )
        ticket.reply_channel = channel
        if channel:
            return await self._system_event(
                session,
                ticket,
                f"replies go to {channel}",
                author,
                f"📮 Replies to #{ticket.id} now go to the customer's {channel} ({author}).",
            )
        return await self._system_event(
            session,
            ticket,
            "replies go to the channel used last",
            author,
            f"📮 Replies to #{ticket.id} go to the channel the customer used last ({author}).",
        )

    async def note(
        self, session: AsyncSession, ticket: Ticket, author: str, text: str
    ) -> TicketMessage:
        return await TicketRepository(session).add_message(
            ticket, "note", text, author, at=self._clock()
        )

    async def close(self, session: AsyncSession, ticket: Ticket, author: str) -> None:
        """Closed for good (the API's status "closed"): no reply, no survey."""
        ticket.status = "closed"
        await TicketRepository(session).add_message(
            ticket, "system", "closed", author, at=self._clock()
        )

    async def resolve(self, session: AsyncSession, ticket: Ticket, author: str) -> Effects:
        if ticket.status in ("resolved", "closed"):
            effects = Effects()
            effects.staff(ticket, Reply(f"Ticket #{ticket.id} is already {ticket.status}."))
            return effects
        ticket.status = "resolved"
        ticket.resolved_at = self._clock()
        ticket.resolution_seconds, ticket.resolution_work_seconds = self._took(
            ticket, ticket.resolved_at
        )
        await webhooks.emit(session, "ticket.resolved", _event(ticket))
        rated = ticket.csat_score is not None
        effects = await self._system_event(
            session,
            ticket,
            "resolved",
            author,
            f"✅ Resolved by {author}. "
            + (
                f"CSAT was already given ({ticket.csat_score}/5): not asked again."
                if rated
                else "The customer is asked for CSAT."
            ),
        )
        address = await self._customer_address(session, ticket)
        if address is not None:
            customer, channel, external_id = address
            if rated:
                # Reopened and resolved again: one rating per ticket, so no second question.
                notice = t("ticket_resolved_again", customer.language, id=ticket.id)
                effects.posts.append((channel, external_id, Reply(notice)))
            else:
                scores = tuple(Button(str(n), CsatScore(ticket.id, n).pack()) for n in range(1, 6))
                question = t("ticket_resolved", customer.language, id=ticket.id)
                effects.posts.append((channel, external_id, Reply(question, buttons=(scores,))))
        return effects

    async def reopen(self, session: AsyncSession, ticket: Ticket, author: str) -> Effects:
        ticket.status = "open"
        ticket.resolved_at = None
        ticket.resolution_seconds = ticket.resolution_work_seconds = None
        ticket.reopens = (ticket.reopens or 0) + 1
        return await self._system_event(
            session, ticket, "reopened", author, f"↩️ Reopened by {author}."
        )

    async def assign(
        self, session: AsyncSession, ticket: Ticket, assignee_id: int, assignee_name: str
    ) -> Effects:
        ticket.assignee_id = assignee_id
        ticket.assignee_name = assignee_name[:128]
        if ticket.status == "new":
            ticket.status = "open"
        return await self._system_event(
            session,
            ticket,
            f"assigned to {assignee_name}",
            assignee_name,
            f"✋ {assignee_name} took ticket #{ticket.id}.",
        )

    async def set_priority(
        self, session: AsyncSession, ticket: Ticket, priority: str, author: str
    ) -> Effects:
        ticket.priority = priority
        if ticket.first_response_at is None:
            minutes = self._config.first_response_minutes.for_priority(priority)
            ticket.due_at = self._deadline(ticket.created_at, minutes)
            ticket.alerts_sent = ""
        return await self._system_event(
            session,
            ticket,
            f"priority {priority}",
            author,
            f"Priority of #{ticket.id} is now {priority} ({author}).",
        )

    async def set_labels(
        self, session: AsyncSession, ticket: Ticket, labels: Sequence[str], author: str
    ) -> Effects:
        """The ticket's labels become exactly `labels` (as parse_labels gives them)."""
        chosen = parse_labels(labels)
        await TicketRepository(session).set_labels(ticket.id, chosen)
        shown = ", ".join(chosen) or "—"
        return await self._system_event(
            session,
            ticket,
            f"labels {shown}",
            author,
            f"🏷 Labels of #{ticket.id}: {shown} ({author}).",
        )

    async def merge(
        self, session: AsyncSession, duplicate: Ticket, target: Ticket, author: str
    ) -> Effects:
        """Close `duplicate` into `target`: another ticket of the same customer, not merged
        already; later messages go to target."""
        if duplicate.id == target.id or duplicate.customer_id != target.customer_id:
            raise TicketRefused("Only another ticket of the same customer can be merged.", "into")
        if duplicate.merged_into_id is not None:
            merged = duplicate.merged_into_id
            raise TicketRefused(f"#{duplicate.id} is already merged into #{merged}.")
        if target.merged_into_id is not None:  # merging into it would make a loop
            merged = target.merged_into_id
            raise TicketRefused(
                f"#{target.id} is merged into #{merged}: merge into that one.", "into"
            )
        effects = Effects()
        duplicate.merged_into_id = target.id
        duplicate.status = "closed"
        if target.status in ("resolved", "closed"):
            target.status = "open"
        tickets = TicketRepository(session)
        now = self._clock()
        await tickets.add_message(duplicate, "system", f"merged into #{target.id}", author, at=now)
        await tickets.add_message(target, "system", f"#{duplicate.id} merged here", author, at=now)
        effects.staff(duplicate, Reply(f"🔀 Merged into #{target.id} by {author}; continue there."))
        effects.staff(target, Reply(f"🔀 #{duplicate.id} ({duplicate.subject}) merged here."))
        return effects

    async def record_csat(
        self, session: AsyncSession, ticket: Ticket, customer: Customer, score: int
    ) -> tuple[Reply, Effects]:
        """The first tap counts; a repeated or late one changes nothing."""
        effects = Effects()
        if ticket.csat_score is not None:
            return Reply(t("csat_already", customer.language)), effects
        ticket.csat_score = score
        customer.pending_action = f"csat_comment:{ticket.id}"
        # Ticket CSAT counts in the CSAT report like any other CSAT answer.
        response = SurveyResponse(
            kind="csat",
            ticket_id=ticket.id,
            customer_id=customer.id,
            channel=customer.last_channel or ticket.channel,
            score=score,
            created_at=self._clock(),
        )
        await add_response(session, response)
        await webhooks.survey_answered(session, response)
        effects.staff(ticket, Reply(f"⭐ CSAT {score}/5 from the customer."))
        skip = ((Button(t("btn_skip", customer.language), Cancel().pack()),),)
        return Reply(t("csat_thanks", customer.language), buttons=skip), effects

    async def record_csat_comment(
        self, session: AsyncSession, ticket: Ticket, customer: Customer, text: str
    ) -> tuple[Reply, Effects]:
        ticket.csat_comment = text[:2000]
        effects = Effects()
        effects.staff(ticket, Reply(text, title="⭐ CSAT comment"))
        return Reply(t("csat_comment_thanks", customer.language)), effects

    async def customer_unreachable(self, session: AsyncSession, customer: Customer) -> list[Post]:
        """Tell the staff topic of the customer's latest ticket that replies cannot reach them."""
        latest = await TicketRepository(session).for_customer(customer.id, limit=1)
        effects = Effects()
        for ticket in latest:
            effects.staff(
                ticket,
                Reply(
                    "⚠️ The customer blocked the bot: replies cannot reach them on "
                    f"{customer.last_channel or ticket.channel}."
                ),
            )
        return effects.posts

    async def customer_not_reached(
        self, session: AsyncSession, customer: Customer, error: str
    ) -> list[Post]:
        """A message to the customer failed for good (not a block): their latest ticket's
        topic hears why, so staff can reach them another way."""
        latest = await TicketRepository(session).for_customer(customer.id, limit=1)
        effects = Effects()
        for ticket in latest:
            effects.staff(ticket, Reply(f"⚠️ A message could not reach the customer: {error}"))
        return effects.posts

    async def _system_event(
        self, session: AsyncSession, ticket: Ticket, event: str, author: str, staff_text: str
    ) -> Effects:
        """Record a change in the ticket's history and tell its topic."""
        await TicketRepository(session).add_message(
            ticket, "system", event, author, at=self._clock()
        )
        effects = Effects()
        effects.staff(ticket, Reply(staff_text))
        return effects

    async def open_ticket(self, session: AsyncSession, customer: Customer) -> Ticket | None:
        return await TicketRepository(session).open_for_customer(customer.id)


def _event(ticket: Ticket) -> dict[str, object]:
    """What an integration is told of a ticket: ids, state and times, not the conversation."""
    return {
        "ticket_id": ticket.id,
        "customer_id": ticket.customer_id,
        "channel": ticket.channel,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "subject": ticket.subject,
        "created_at": ticket.created_at,
        "resolved_at": ticket.resolved_at,
    }


def _pair(attachment: Attachment | None) -> tuple[str, str] | None:
    return (attachment.kind, attachment.file_id) if attachment else None
