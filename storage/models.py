"""SQL schema: the single source of truth for customers, conversations, FAQ and inbound events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
    true,
)
from sqlalchemy import text as sql_text  # `text` is also a column name below
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    language: Mapped[str] = mapped_column(String(8), default="ru")
    last_channel: Mapped[str] = mapped_column(String(32), default="")
    # What the next free-text message means ("leave_message"); None means "a question".
    pending_action: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Channels whose platform said the customer blocked us ("telegram,vk"); `unreachable`
    # once every channel they have is in it. Writing on a channel takes it off again.
    blocked_channels: Mapped[str] = mapped_column(String(256), default="", server_default="")
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Surveys: "stop surveys" opts out of every campaign; "ask me less" lengthens the throttle.
    surveys_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    survey_throttle_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_surveyed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[str] = mapped_column(Text, default="")  # one per line
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Set when this customer turned out to be another one (linked or merged by staff): the
    # row stays, with nothing left on it, so the merge can be read and undone by hand.
    merged_into: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The UTC month ("2026-11") this customer last wrote in: a change adds their row to
    # customer_months, once a month, not once a message.
    active_month: Mapped[str | None] = mapped_column(String(7), nullable=True)


MONTH_FIGURES = (
    "gap",
    "first",
    "customer_id",
    "nps_n",
    "nps_promoters",
    "nps_detractors",
    "csat_n",
    "csat_satisfied",
)


class CustomerMonth(Base):
    """A month (UTC) in which a customer wrote to us or answered a survey: what activity,
    churn, cohorts and churned-versus-retained scores are counted from, without reading every
    message or answer. `first`: their first month ever; `gap`: months until the next month
    they were active (None: not since), so churn is one GROUP BY; the score counts are their
    NPS and CSAT answers of the month (scanner clicks left out)."""

    __tablename__ = "customer_months"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    first: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    gap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    nps_n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    nps_promoters: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    nps_detractors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    csat_n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    csat_satisfied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Every column, by month: the customer report reads a range of months from the index
    # alone, in order, instead of visiting rows stored by customer.
    __table_args__ = (Index("ix_customer_months_by_month", "month", *MONTH_FIGURES),)


class Lease(Base):
    """Work only one instance may do at a time (the scheduled jobs), held by `owner` until
    `expires_at` and renewed while it lives; anyone may take it once it has expired."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    since: Mapped[datetime] = mapped_column(UtcDateTime())  # when this owner took it


class RateWindow(Base):
    """One platform account's sends in the last window, shared by the instances on PostgreSQL
    when no Redis is configured (bot.core.delivery.shared_rate.PostgresSharedRate): grant times
    and a pause, in epoch seconds by the database's clock. Unused on SQLite (one process)."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    lane: Mapped[str] = mapped_column(String(16), primary_key=True)
    grants: Mapped[list[float]] = mapped_column(
        postgresql.ARRAY(Float()).with_variant(Text(), "sqlite")
    )
    paused_until: Mapped[float] = mapped_column(Float(), server_default="0")


class LinkCode(Base):
    """A one-time code that makes the customer who types it the customer who asked for it,
    once the typer confirms (`claimed_by`: who typed it and was asked)."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Used, or called off by the one who asked for it ("this is not me").
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class CustomerMerge(Base):
    """Who became whom, when, by whose hand, and what moved: the audit of a link or merge."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(Integer, index=True)
    target_id: Mapped[int] = mapped_column(Integer, index=True)
    by: Mapped[str] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON: moved rows, old fields
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WhatsAppContact(Base):
    """When each WhatsApp user last wrote: the 24-hour customer-service window."""

    __tablename__ = "whatsapp_contacts"

    wa_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class WebChatMessage(Base):
    """What a web chat visitor's widget shows, in order: their messages, the bot's replies with
    their buttons, and what reached them while the page was closed (staff replies, surveys).
    The widget restores itself from it; `shown_at` is empty until the visitor's page showed the
    message, and `ref` names what that settles ("delivery:ID": a survey then counts as sent)."""

    __tablename__ = "webchat_messages"
    __table_args__ = (Index("ix_webchat_messages_session", "session", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    body: Mapped[str] = mapped_column(Text)  # JSON: text, title, buttons
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    shown_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class VkClient(Base):
    """What a VK user's app can show, from the `client_info` of their last message: VK says it
    with every message, and a keyboard the app cannot use never reaches the customer."""

    __tablename__ = "vk_clients"

    peer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    keyboard: Mapped[bool] = mapped_column(Boolean, default=True)
    inline: Mapped[bool] = mapped_column(Boolean, default=True)
    callback: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ChannelIdentity(Base):
    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Numbered choices last offered on a channel without buttons: JSON {typed: button data}.
    offered: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Surveys may go to this address: a chat the customer wrote in, yes; an email address
    # only with the consent it was imported with.
    consent: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class ConversationMessage(Base):
    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    text: Mapped[str] = mapped_column(Text, default="")
    button_data: Mapped[str | None] = mapped_column(String(64), nullable=True)
    faq_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("faq_entries.id", ondelete="SET NULL"), nullable=True
    )
    # Indexed for retention: the oldest rows are found and deleted in small batches.
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)

    __table_args__ = (
        # The FAQ's answers by time, for the self-service report (a few percent of messages).
        Index(
            "ix_conversation_messages_faq_answers",
            "created_at",
            "faq_entry_id",
            "customer_id",
            postgresql_where=sql_text("faq_entry_id IS NOT NULL"),
            sqlite_where=sql_text("faq_entry_id IS NOT NULL"),
        ),
    )


class FaqEntry(Base):
    __tablename__ = "faq_entries"
    __table_args__ = (UniqueConstraint("slug", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    question: Mapped[str] = mapped_column(Text)
    # Alternative phrasings and search words, one per line; they feed matching, not display.
    keywords: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text)
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    unhelpful_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Raised by every edit: two editors cannot overwrite each other unseen (ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class FaqVector(Base):
    """A dense vector of one FAQ text (question, question with answer, or keyword), keyed by
    the text's hash: computed once when the FAQ changes, read back by every instance."""

    __tablename__ = "faq_vectors"
    __table_args__ = (UniqueConstraint("model", "text_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    text_key: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class FaqMiss(Base):
    """A question the bot could not answer surely ("unanswered", "suggested") or an answer
    rated 👎 ("unhelpful"): the customer's own message, so erasure and retention of the
    conversation take these with it."""

    __tablename__ = "faq_misses"
    __table_args__ = (UniqueConstraint("message_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("conversation_messages.id", ondelete="CASCADE"),
    )
    kind: Mapped[str] = mapped_column(String(12))
    faq_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("faq_entries.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class FaqFeedback(Base):
    """One vote per answer message: a double tap on 👍 must count once."""

    __tablename__ = "faq_feedback"
    __table_args__ = (UniqueConstraint("message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE")
    )
    faq_entry_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class InboundEvent(Base):
    """Every inbound update, stored before it is acknowledged; the unique key makes redelivery a
    no-op and the status lets a restart finish what a crash interrupted."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        # A chat's earlier pending events, found by whoever handles a later one.
        Index(
            "ix_inbound_events_pending_chat",
            "chat_key",
            "id",
            postgresql_where=sql_text("status = 'pending'"),
            sqlite_where=sql_text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The instance handling it, until when (renewed while it lives): another instance's
    # recovery takes the event only once this has passed.
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # "source:chat" (a Telegram chat or topic, a VK or WhatsApp sender): one chat's events are
    # handled in stored order, one instance at a time. None: no order to keep.
    chat_key: Mapped[str | None] = mapped_column(String(160), nullable=True)


class OutboxMessage(Base):
    """A reply waiting to be sent: written in the same transaction as the event that caused it,
    sent after commit, retried after a crash. The payload is a channel-neutral Reply as JSON."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # After a failed attempt: not before this (exponential back-off); None means now.
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The platform's id for the sent message, and what the platform later said of it (sent,
    # delivered, read, failed), where it reports that (WhatsApp).
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The instance sending it, until when (renewed while it lives): another instance's
    # recovery takes the row only once this has passed.
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


_UNMERGED = sql_text("merged_into_id IS NULL")
_UNANSWERED = sql_text("first_response_at IS NULL AND merged_into_id IS NULL")


class Ticket(Base):
    """A customer's problem in the human inbox. Times are UTC; `due_at` is the first-response
    target counted in working hours; `alerts_sent` remembers which SLA alerts went out."""

    __tablename__ = "tickets"
    __table_args__ = (
        # A customer's tickets by time: whether one followed an FAQ answer within 24 hours.
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        # Tickets by status, then by time: the backlog on a past day reads the open ones only
        # (on status alone SQLite's planner, seeing two statuses, took created_at instead).
        Index("ix_tickets_status_created", "status", "created_at"),
        # Each kept time in order, for a percentile read exactly from one bucket's tickets
        # (revision 0040: the roll-ups below say which bucket and how far into it).
        *(
            Index(name, *columns, sqlite_where=_UNMERGED, postgresql_where=_UNMERGED)
            for name, columns in (
                (
                    "ix_tickets_first_wall",
                    ("first_response_seconds", "created_at", "first_response_work_seconds"),
                ),
                (
                    "ix_tickets_first_work",
                    (
                        "first_response_work_seconds",
                        "created_at",
                        "assignee_name",
                        "first_response_seconds",
                    ),
                ),
                (
                    "ix_tickets_resolve_wall",
                    ("resolution_seconds", "created_at", "resolution_work_seconds"),
                ),
                (
                    "ix_tickets_resolve_work",
                    ("resolution_work_seconds", "created_at", "resolution_seconds"),
                ),
            )
        ),
        # Unanswered tickets by time: the ones past due are counted when the report is read.
        Index(
            "ix_tickets_unanswered",
            "created_at",
            "due_at",
            sqlite_where=_UNANSWERED,
            postgresql_where=_UNANSWERED,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    # Where staff replies go: "" for the channel the customer used last, else one staff chose.
    reply_channel: Mapped[str] = mapped_column(String(32), default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    category: Mapped[str] = mapped_column(String(64), default="general")
    subject: Mapped[str] = mapped_column(String(200), default="")
    assignee_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    assignee_name: Mapped[str] = mapped_column(String(128), default="")
    matched_rule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    staff_thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    alerts_sent: Mapped[str] = mapped_column(String(64), default="")
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    csat_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Times reopened after a resolve (the reopen rate reads it, not the ticket's history).
    reopens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # First-response and resolution times in seconds, wall clock and working hours, measured
    # when the reply or the resolve happens: the ticket report adds them up in SQL instead of
    # walking the calendar for every ticket it reads. Resolution: the last resolve.
    first_response_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_response_work_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolution_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolution_work_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Raised by every change (each one adds a ticket message): the API's ETag, so two agents
    # editing one ticket cannot overwrite each other unseen.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


@event.listens_for(Ticket, "before_update")
def _raise_ticket_version(_mapper: Any, _connection: Any, ticket: Ticket) -> None:
    """Any change to a ticket, from the API, the web inbox, the staff group or the CLI, raises
    its version: an If-Match read before it no longer matches."""
    state = inspect(ticket)
    if (
        any(attr.key != "version" and attr.history.has_changes() for attr in state.attrs)
        and not state.attrs.version.history.has_changes()
    ):
        ticket.version = (ticket.version or 0) + 1


class TicketMessage(Base):
    """Every message of a ticket's conversation; `kind` is customer, staff, note or system."""

    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The channel a customer message came from, or a staff reply went to; "" for the rest.
    channel: Mapped[str] = mapped_column(String(32), default="", server_default="")
    author: Mapped[str] = mapped_column(String(128), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    attachment_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attachment_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class FileBlob(Base):
    """A file's bytes, stored once by its SHA-256 however often it arrives (a redelivered
    email, the same logo in every signature)."""

    __tablename__ = "file_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TicketFile(Base):
    """A file a customer sent with a ticket message (an email's attachments), under the name
    it came with."""

    __tablename__ = "ticket_files"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(ForeignKey("file_blobs.sha256"), index=True)


class RoutingRule(Base):
    """Evaluated in `position` order; the first match sets what it names."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    keywords: Mapped[str] = mapped_column(Text, default="")  # one per line, matched by stem
    pattern: Mapped[str] = mapped_column(Text, default="")  # a regular expression
    channel: Mapped[str] = mapped_column(String(32), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    set_category: Mapped[str] = mapped_column(String(64), default="")
    set_priority: Mapped[str] = mapped_column(String(16), default="")
    set_assignee_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    set_labels: Mapped[str] = mapped_column(Text, default="", server_default="")  # one per line


class TicketLabel(Base):
    """A word staff (or a routing rule) put on a ticket to find and group it."""

    __tablename__ = "ticket_labels"
    __table_args__ = (Index("ix_ticket_labels_label", "label", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(40), primary_key=True)


class CannedReply(Base):
    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)


class StaffPost(Base):
    """Which ticket a bot message in the staff group belongs to: a reply to it is a reply to the
    ticket (the threading of a group that is not a forum)."""

    __tablename__ = "staff_posts"

    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))


class SurveyResponse(Base):
    """One answer to a survey question. `customer_id` is empty for anonymous surveys: nothing
    links such an answer to a person. `score` is empty for a skipped question."""

    __tablename__ = "survey_responses"
    # Reports over part of a day scan (kind, created_at, score): this index answers them.
    __table_args__ = (Index("ix_survey_responses_report", "kind", "created_at", "score"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # nps | csat | ces | custom
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel: Mapped[str] = mapped_column(String(32), default="")
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    # Answered by link or email: the survey (a link may have no campaign) and the delivery
    # whose last answer wins.
    survey_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # Why it looks like a mail scanner rather than a person ("burst", "all_links", "too_soon");
    # flagged answers stay out of the reports' counts, which say how many were left out.
    flagged: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # A survey page's answering session (its form token's nonce): submitting it again replaces
    # this answer rather than adding one, so a replayed form never counts twice.
    form_nonce: Mapped[str | None] = mapped_column(
        String(32), nullable=True, unique=True, index=True
    )


class EmailThreadMessage(Base):
    """An email's Message-ID and the ticket it belongs to (sent or received): how a reply's
    In-Reply-To and References find their ticket."""

    __tablename__ = "email_messages"

    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Integer, index=True)
    inbound: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ImapCursor(Base):
    """How far a mailbox has been read: a new UIDVALIDITY means its UIDs start over."""

    __tablename__ = "imap_cursors"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)  # user@host/folder
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AppSecret(Base):
    """Secrets the instances share and no operator has to set (the survey links' signing key):
    made once by whichever instance needs it first."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LinkView(Base):
    """A GET of a delivery's survey page (with the score it carried): never an answer, only
    what tells a mail scanner opening every link of an email from a person clicking one."""

    __tablename__ = "link_views"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, index=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SurveyScoreDay(Base):
    """How many answers got each score on one UTC day, per kind, campaign and channel: the
    roll-up reports read, so they scale with days rather than answers. Kept up to date by
    `add_response` in the transaction that stores the answer; `campaign_id` 0 is "none"."""

    __tablename__ = "survey_score_days"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    score: Mapped[int] = mapped_column(Integer, primary_key=True)
    answers: Mapped[int] = mapped_column(Integer)


class TicketDayCount(Base):
    """The counts of the ticket report for the tickets opened on one UTC day with one value of
    one dimension (category, channel, priority, rule id, assignee). Kept by database triggers
    on `tickets` (revision 0040), so every writer keeps it right; merged tickets left out."""

    __tablename__ = "ticket_day_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    tickets: Mapped[int] = mapped_column(Integer, server_default="0")
    answered: Mapped[int] = mapped_column(Integer, server_default="0")
    resolved: Mapped[int] = mapped_column(Integer, server_default="0")
    answered_due: Mapped[int] = mapped_column(Integer, server_default="0")
    on_time: Mapped[int] = mapped_column(Integer, server_default="0")
    late_answer: Mapped[int] = mapped_column(Integer, server_default="0")
    resolved_ever: Mapped[int] = mapped_column(Integer, server_default="0")
    reopened: Mapped[int] = mapped_column(Integer, server_default="0")
    rated: Mapped[int] = mapped_column(Integer, server_default="0")
    satisfied: Mapped[int] = mapped_column(Integer, server_default="0")
    unmeasured: Mapped[int] = mapped_column(Integer, server_default="0")


class TicketTimeDay(Base):
    """How many tickets opened on one UTC day kept a time (metric) in one bucket, and the sum
    of those times; the working first reply per assignee, other metrics with assignee "".
    Kept by the same triggers as `ticket_day_counts`."""

    __tablename__ = "ticket_time_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    assignee: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)


class TicketTimeBound(Base):
    """The lower bound in seconds of each bucket of `ticket_time_days` (written once)."""

    __tablename__ = "ticket_time_bounds"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    lo: Mapped[float] = mapped_column(Float, unique=True)


class HoursSetting(Base):
    """Working hours and holidays as edited in the console (JSON of the edited `[hours]`
    keys), over the config file's. One row (id 1); `version` rises with every save."""

    __tablename__ = "hours_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edits: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(128), server_default="")


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # nps | csat | ces | custom
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # Texts and options as JSON: {"question": {"ru": .., "en": ..}, "followup": {"detractor":
    # {"ru": .., "en": ..}, ...}, "options": [..] for custom}
    texts: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    schedule: Mapped[str] = mapped_column(String(16), default="once")  # once | cron | trigger
    run_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    cron: Mapped[str] = mapped_column(String(64), default="")
    trigger: Mapped[str] = mapped_column(String(32), default="")  # first_contact | ticket_resolved
    trigger_delay_hours: Mapped[int] = mapped_column(Integer, default=0)
    audience: Mapped[str] = mapped_column(Text, default="{}")  # JSON filters
    throttle_days: Mapped[int] = mapped_column(Integer, default=30)
    quiet_start: Mapped[str] = mapped_column(String(5), default="21:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="09:00")
    reminder_hours: Mapped[int] = mapped_column(Integer, default=0)
    expire_hours: Mapped[int] = mapped_column(Integer, default=72)
    # Customers of the audience not asked, by reason, over all runs: JSON {"throttled": 3, ...}.
    skipped: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Delivery(Base):
    """One survey message to one customer: the campaign outbox. `sending` marks the rows on
    the wire; after a crash they are sent again (the only possible duplicates)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "run_key"),
        # Reminders and expiry read only what is due: by campaign, status and send time.
        Index("ix_deliveries_due", "campaign_id", "status", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    run_key: Mapped[str] = mapped_column(String(32), default="")  # which run of a recurring one
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8), default="ru")
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None for anonymous


class JobRun(Base):
    """A periodic job's run for one period (the monthly report for 2026-10): inserted before the
    work, so a restart neither repeats nor skips it."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("name", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ApiToken(Base):
    """A bearer token for the REST API. Only its SHA-256 is kept: the token is 32 random bytes,
    so a fast hash is enough (passwords, which people choose, get argon2 instead)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | agent
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The staff account that made it in the console: the token dies with that account. None for
    # one made with `otklik token create` (whoever holds the server holds it).
    owner_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AuditEntry(Base):
    """Every write through the API (and the console): who, what, on what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    actor: Mapped[str] = mapped_column(String(128))  # "token:NAME", "staff:LOGIN", "cli"
    action: Mapped[str] = mapped_column(String(64))  # "ticket.reply", "token.create"
    target: Mapped[str] = mapped_column(String(128), default="")  # "ticket:12"
    details: Mapped[str] = mapped_column(Text, default="")  # JSON
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class StaffAccount(Base):
    """A person who signs in to the web inbox (and, as admin, the console). The password is
    kept as an argon2 hash."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="agent")  # admin | agent
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Wrong passwords (or codes) in a row; past the limit the account is locked for a while,
    # whichever address the guesses come from.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The second factor (TOTP): its secret, and the last time step a code was accepted for,
    # so a code works once.
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored, with the
    CSRF token its forms must carry. In SQL, so every instance knows it."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Webhook(Base):
    """An integration's URL and the events it wants. The secret signs each delivery (HMAC, as
    the generic HTTP channel); it is kept to sign with, and shown once when made."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(String(256))  # comma-separated
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class WebhookDelivery(Base):
    """One event for one webhook: queued in the transaction of what happened, posted after,
    retried with back-off; its attempts are what an admin reads when an integration is down."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    # pending | sent | failed | cancelled (its webhook removed)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
