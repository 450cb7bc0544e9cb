"""What the REST API takes and gives. These models validate requests and are the source of
the OpenAPI document (`bot.api.spec`): the document cannot drift from what is enforced."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from bot.core.days import FIRST_DAY, LAST_DAY
from bot.reports.periods import EARLIEST as REPORT_EARLIEST
from bot.reports.periods import LATEST as REPORT_LATEST

Status = Literal["new", "open", "waiting", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]


def _not_a_bool(value: object) -> object:
    """JSON Schema's integer is any whole number (2.0 too) but never true or false, which
    pydantic would read as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError("an integer, not a boolean")
    return value


def _text_only(value: object) -> object:
    """A moment as ISO 8601 text: pydantic would also read a number as Unix time."""
    if not isinstance(value, str):
        raise ValueError("a date-time as ISO 8601 text with a zone")
    return value


Whole = Annotated[int, BeforeValidator(_not_a_bool)]
Moment = Annotated[AwareDatetime, BeforeValidator(_text_only)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(Model):
    error: str = Field(description="What was wrong, naming the field where one was")
    field: str | None = Field(default=None, description="The request field at fault")


class TicketQuery(Model):
    status: Status | None = None
    channel: str | None = Field(default=None, max_length=32)
    priority: Priority | None = None
    assignee_id: int | None = Field(default=None, ge=0, le=2**63 - 1)
    customer_id: int | None = Field(default=None, ge=1, le=2**31 - 1)  # the column's size
    limit: int = Field(default=50, ge=1, le=100)
    cursor: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="next_cursor of the previous page"
    )


class TicketSummary(Model):
    id: int
    status: Status
    priority: Priority
    category: str
    subject: str
    channel: str
    reply_channel: str = Field(description='Where staff replies go; "" for the channel used last')
    customer_id: int
    assignee_id: int | None
    assignee_name: str
    created_at: datetime
    due_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    version: int = Field(description="Raised by every change; the ETag is its value in quotes")


class TicketPage(Model):
    items: list[TicketSummary]
    next_cursor: int | None = Field(description="Pass as cursor for the next page; null at the end")


class TicketFile(Model):
    id: int
    name: str = Field(description="As the customer sent it")
    content_type: str = Field(description="As the sender declared it; downloads are always bytes")
    size: int
    url: str = Field(description="The bytes: GET this path with format=raw")


class TicketFileQuery(Model):
    format: Literal["json", "raw"] = "json"


class TicketMessage(Model):
    id: int
    kind: Literal["customer", "staff", "note", "system"]
    channel: str
    author: str
    text: str
    attachment_kind: str | None
    files: list[TicketFile] = Field(default_factory=list, description="Files kept with it")
    created_at: datetime


class TicketDetail(TicketSummary):
    csat_score: int | None
    csat_comment: str | None
    labels: list[str] = Field(default_factory=list, description="Alphabetically")
    messages: list[TicketMessage]


class TicketPatch(Model):
    """Send with `If-Match: <the ETag of what you read>`; 412 if the ticket changed since."""

    status: Literal["open", "resolved", "closed"] | None = Field(
        default=None, description="resolved asks the customer for CSAT, once per ticket"
    )
    priority: Priority | None = None
    assignee_name: str | None = Field(
        default=None, max_length=128, description='Who handles it; "" for nobody'
    )
    reply_channel: str | None = Field(
        default=None,
        max_length=32,
        description='Where staff replies go: a channel the customer has used, or "" for the last',
    )
    labels: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None,
        max_length=10,
        description="The ticket's labels afterwards (lower-cased, repeats dropped); [] for none",
    )


class ReplyIn(Model):
    text: str = Field(min_length=1, max_length=4096, description="Sent to the customer")


class ReplyOut(Model):
    ticket_id: int
    channel: str = Field(description="The channel the reply goes out on")


class NoteIn(Model):
    text: str = Field(min_length=1, max_length=4096, description="Internal: never sent")


class MergeIn(Model):
    into: Whole = Field(ge=1, le=2**31 - 1, description="The ticket that stays open")


class NoteOut(Model):
    ticket_id: int
    message_id: int


class AuditQuery(Model):
    limit: int = Field(default=50, ge=1, le=200)
    before_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class AuditItem(Model):
    id: int
    actor: str
    action: str
    target: str
    details: str = Field(description="JSON")
    created_at: datetime


class AuditPage(Model):
    items: list[AuditItem]


class CustomerQuery(Model):
    q: str = Field(
        min_length=1, max_length=128, description="Part of the name, or a channel's user id"
    )
    limit: int = Field(default=20, ge=1, le=100)


class Identity(Model):
    channel: str
    external_id: str


class CustomerSummary(Model):
    id: int
    display_name: str
    language: str
    last_channel: str
    unreachable: bool
    surveys_opted_out: bool
    created_at: datetime
    merged_into: int | None


class CustomerList(Model):
    items: list[CustomerSummary]


class HistoryItem(Model):
    id: int
    channel: str
    direction: Literal["in", "out"]
    text: str
    created_at: datetime


class CustomerDetail(CustomerSummary):
    identities: list[Identity]
    ticket_ids: list[int]
    history: list[HistoryItem] = Field(description="The conversation on every channel, in order")


class CustomerExport(Model):
    model_config = ConfigDict(extra="allow")

    customer: dict[str, object]


class Erased(Model):
    customer_id: int
    erased: dict[str, int] = Field(description="Rows deleted or blanked, by kind")


class CustomerImport(Model):
    csv: str = Field(
        max_length=8_000_000,
        description="A CSV file with a header line: name, email, language, tags, timezone, "
        "consent (any order; email required)",
    )
    skip_bad: bool = Field(default=False, description="Import the good rows despite bad ones")


class BadRow(Model):
    line: int
    reason: str


class ImportReport(Model):
    created: int
    updated: int
    skipped: list[BadRow] = Field(description="Bad rows left out (only with skip_bad)")
    may_be_emailed: int = Field(description="Imported rows with consent to email surveys")


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic would also take "0" as 1970-01-01."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("a date as YYYY-MM-DD")
    return value


def _reportable(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a day from {FIRST_DAY} to {LAST_DAY}")
    return value


# The range is in the schema too, as the years a pattern allows (JSON Schema has no bounds for
# a date), so that a client (and schemathesis) knows a day outside it is refused.
IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    AfterValidator(_reportable),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": r"^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$",
            "description": f"A day from {FIRST_DAY} to {LAST_DAY}, as YYYY-MM-DD",
        }
    ),
]


def _in_report_range(value: date) -> date:
    if not REPORT_EARLIEST <= value <= REPORT_LATEST:
        raise ValueError(f"a day from {REPORT_EARLIEST} to {REPORT_LATEST}")
    return value


# The manager reports' days: 2000 to 2100 (bot.reports.periods), in the pattern as above.
ReportDay = Annotated[
    date,
    BeforeValidator(_iso_date),
    AfterValidator(_in_report_range),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": r"^(20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}$",
            "description": f"A day from {REPORT_EARLIEST} to {REPORT_LATEST}, as YYYY-MM-DD",
        }
    ),
]


class ReportQuery(Model):
    from_: IsoDate | None = Field(default=None, alias="from", description="First day (UTC)")
    to: IsoDate | None = Field(default=None, description="Last day, inclusive (UTC)")
    campaign: int | None = Field(default=None, ge=1, le=2**31 - 1)
    channel: str | None = Field(default=None, max_length=32)
    by: Literal["week", "month"] | None = Field(default=None, description="One row per period")
    format: Literal["json", "csv"] = "json"

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NpsRow(Model):
    period: str
    n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None = Field(description="100·(P − D)/N")
    margin_95: float | None = Field(description="The 95 % margin of error, in NPS points")
    low_confidence: bool = Field(description="N < 30")


class CsatRow(Model):
    period: str
    n: int
    satisfied: int
    csat_percent: float | None


class CesRow(Model):
    period: str
    n: int
    mean: float | None
    agree_percent: float | None


class RateRow(Model):
    campaign: int
    name: str
    delivered: int
    answered: int
    response_rate_percent: float | None


class NpsReport(Model):
    metric: Literal["nps"]
    rows: list[NpsRow]
    left_out: int = Field(
        default=0,
        description="Answers not counted: they look like a mail scanner's clicks, not a person's",
    )


class CsatReport(Model):
    metric: Literal["csat"]
    rows: list[CsatRow]
    left_out: int = Field(
        default=0,
        description="Answers not counted: they look like a mail scanner's clicks, not a person's",
    )


class CesReport(Model):
    metric: Literal["ces"]
    rows: list[CesRow]
    left_out: int = Field(
        default=0,
        description="Answers not counted: they look like a mail scanner's clicks, not a person's",
    )


class RateReport(Model):
    metric: Literal["response-rate"]
    rows: list[RateRow]


class GapsQuery(Model):
    from_: IsoDate | None = Field(default=None, alias="from", description="First day (UTC)")
    to: IsoDate | None = Field(default=None, description="Last day, inclusive (UTC)")
    min: int = Field(default=1, ge=1, le=1_000_000, description="Groups asked this often or more")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class GapEntry(Model):
    entry_id: int
    slug: str
    language: str
    question: str
    score: float


class Gap(Model):
    count: int = Field(description="Times asked (the same words twice count twice)")
    examples: list[str] = Field(description="Distinct wordings, most asked first (5 at most)")
    unanswered: int = Field(description="Nothing close enough was offered")
    suggested: int = Field(description="Close entries offered, none answered with")
    unhelpful: int = Field(description="Answered, and the answer was rated 👎")
    last_seen: datetime | None
    nearest: GapEntry | None = Field(
        description="The entry that came closest: one of the examples as its keyword (PATCH "
        "/api/v1/faq/{entry_id}) may close the gap; none: it needs a new entry"
    )


class GapsReport(Model):
    misses: int = Field(description="Questions missed in the window (the newest 5000 at most)")
    groups: list[Gap] = Field(description="Same question, different words; biggest first")


EventName = Literal["ticket.created", "ticket.resolved", "survey.answered", "survey.detractor"]


class WebhookIn(Model):
    url: str = Field(
        min_length=8, max_length=2048, pattern=r"^https?://[^\s]+$", description="Where to POST"
    )
    events: list[EventName] = Field(min_length=1, max_length=4)


class WebhookOut(Model):
    id: int
    url: str
    events: list[str]
    created_at: datetime


class WebhookMade(WebhookOut):
    secret: str = Field(description="Signs every delivery; shown only now")


class WebhookList(Model):
    items: list[WebhookOut]


class DeliveryOut(Model):
    id: int
    event: str
    status: Literal["pending", "sent", "failed", "cancelled"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime


class DeliveryList(Model):
    items: list[DeliveryOut]


class Removed(Model):
    id: int
    removed: bool


class ManagerReportQuery(Model):
    from_: ReportDay | None = Field(
        default=None, alias="from", description="First day, in [hours] timezone"
    )
    to: ReportDay | None = Field(default=None, description="Last day, inclusive")
    by: Literal["day", "week", "month", "quarter", "year"] = Field(
        default="week", description="The periods volumes are counted in"
    )
    as_of: ReportDay | None = Field(
        default=None, description="tickets: the backlog at the end of this day"
    )
    format: Literal["json", "csv"] = Field(
        default="json", description="csv: the figures, one per row"
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReportWindow(Model):
    from_: str = Field(alias="from")
    to: str
    zone: str

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ManagerReport(Model):
    """A tickets, faq or customers report: README "Reports" defines each figure. Each figure
    is {value, previous, change, change_percent}; lists hold one entry per key or period."""

    report: Literal["tickets", "faq", "customers", "themes"]
    window: ReportWindow
    previous_window: ReportWindow
    summary: dict[str, Any]
    by_period: dict[str, Any] | None = None
    by_category: list[dict[str, Any]] | None = None
    by_channel: list[dict[str, Any]] | None = None
    by_priority: list[dict[str, Any]] | None = None
    by_rule: list[dict[str, Any]] | None = None
    by_assignee: list[dict[str, Any]] | None = None
    breaches: dict[str, Any] | None = None
    backlog: dict[str, Any] | None = None
    staff: list[dict[str, Any]] | None = None
    entries: list[dict[str, Any]] | None = None
    ending_in_ticket: list[dict[str, Any]] | None = None
    unanswered_by_period: dict[str, Any] | None = None
    churn_definition: str | None = None
    churn_months: int | None = None
    months: list[dict[str, Any]] | None = None
    churned_vs_retained: dict[str, Any] | None = None
    cohorts: list[dict[str, Any]] | None = None
    nps_margin_95: float | None = None
    nps_combined_margin_95: float | None = None
    nps_change_significant: bool | None = None
    groups: dict[str, Any] | None = Field(
        default=None,
        description="themes: per group (detractors, passives, promoters, tickets) the texts "
        "read and the themes, each with its count, share, previous count and example quotes",
    )


class TicketRowsQuery(ManagerReportQuery):
    category: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=32)
    priority: str | None = Field(default=None, max_length=16)
    rule: str | None = Field(default=None, max_length=64)
    assignee: str | None = Field(default=None, max_length=128)
    period: str | None = Field(default=None, max_length=10, description="A period label of by")
    breached: bool | None = None
    reopened: bool | None = None
    backlog: bool = Field(default=False, description="The open tickets at the window's end")
    previous: bool = Field(default=False, description="The window before")
    format: Literal["json", "csv"] = Field(default="json", description="csv: one row per ticket")


class TicketRowOut(Model):
    ticket: int
    customer: int
    opened_at: str
    status: str
    category: str
    channel: str
    priority: str
    rule: str
    assignee: str
    first_response_minutes: float | None
    first_response_working_minutes: float | None
    resolution_minutes: float | None
    resolution_working_minutes: float | None
    breached: bool
    reopened: bool
    csat: int | None
    subject: str


class TicketRows(Model):
    tickets: list[TicketRowOut]


class FaqAnswerRowsQuery(ManagerReportQuery):
    entry: int | None = Field(default=None, ge=1, le=2**31 - 1, description="One FAQ entry's")
    followed: bool | None = Field(
        default=None, description="Followed by a ticket within 24 hours (false: deflected)"
    )
    previous: bool = Field(default=False, description="The window before")
    format: Literal["json", "csv"] = Field(default="json", description="csv: one row per answer")


class FaqAnswerRowOut(Model):
    message: int
    customer: int
    answered_at: str
    entry: int
    slug: str
    ticket_within_24h: bool


class FaqAnswerRows(Model):
    answers: list[FaqAnswerRowOut]


class ThemeRowsQuery(ManagerReportQuery):
    group: Literal["detractors", "passives", "promoters", "tickets"]
    phrase: str = Field(
        min_length=1, max_length=200, description="A theme's phrase (stems) or its words"
    )
    previous: bool = Field(default=False, description="The window before")
    format: Literal["json", "csv"] = Field(default="json", description="csv: one row per text")


class ThemeRowOut(Model):
    source: Literal["answer", "ticket"]
    id: int
    at: str
    score: int | None
    text: str


class ThemeRows(Model):
    texts: list[ThemeRowOut]


class CustomerRowsQuery(ManagerReportQuery):
    month: str = Field(pattern=r"^(20\d\d|2100)-(0[1-9]|1[0-2])$", description="YYYY-MM")
    which: Literal["active", "new", "returning", "churned"] = "active"
    format: Literal["json", "csv"] = Field(default="json", description="csv: one row each")


class CustomerRowOut(Model):
    customer: int
    name: str
    month: str
    new: bool
    next_active_month: str | None


class CustomerRows(Model):
    customers: list[CustomerRowOut]


class ChurnAnswersQuery(ManagerReportQuery):
    churned: bool = Field(description="The churned customers' answers (false: the retained)")
    format: Literal["json", "csv"] = Field(default="json", description="csv: one row each")


class ChurnAnswerOut(Model):
    answer: int
    customer: int
    kind: Literal["nps", "csat"]
    score: int
    at: str
    comment: str


class ChurnAnswers(Model):
    answers: list[ChurnAnswerOut]
