"""What a button says when it is tapped, as typed values (in the manner of aiogram's
`CallbackData`, without tying the core to aiogram).

A button's data is `prefix:field:field`, at most 64 bytes (Telegram's `callback_data` limit
binds every channel). Each kind of button is a frozen dataclass with a `prefix`; `pack()` writes
it and `decode(data, kinds)` reads it back as the first kind that fits exactly (prefix, number
of fields, each field's type), or None. A tap is untrusted input: ids are bounded to their
column (`Id32` for 32-bit columns, `Id64` for 64-bit ones), `Literal` fields to their values,
and anything else is a refusal rather than an exception.

The wire format is what it always was, so buttons already in customers' chats keep working.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from bot.core.untrusted import INT32_MAX, INT64_MAX, parse_id

MAX_BYTES = 64


@dataclasses.dataclass(frozen=True)
class _Bound:
    limit: int


@dataclasses.dataclass(frozen=True)
class OneOf:
    """`Annotated[str, OneOf(words)]`: a field that is one of these words."""

    words: tuple[str, ...]


Id32 = Annotated[int, _Bound(INT32_MAX)]  # FAQ entries, tickets, surveys
Id64 = Annotated[int, _Bound(INT64_MAX)]  # log rows, deliveries, survey responses
Stars = Annotated[int, _Bound(5)]  # a CSAT score, 1 to 5


class ButtonData:
    """Base of every kind of button data; subclasses are frozen dataclasses."""

    prefix: ClassVar[str]

    def pack(self) -> str:
        values = [str(getattr(self, f.name)) for f in dataclasses.fields(self)]  # type: ignore[arg-type]
        data = ":".join([self.prefix, *values])
        if any(":" in value for value in values) or len(data.encode()) > MAX_BYTES:
            raise ValueError(f"button data does not fit: {data!r}")
        return data


Kind = TypeVar("Kind", bound=ButtonData)


_READERS: dict[type[ButtonData], tuple[Any, ...]] = {}


def _readers(kind: type[ButtonData]) -> tuple[Any, ...]:
    """One reader per field, from its type hint; worked out once per kind."""
    readers = _READERS.get(kind)
    if readers is None:
        hints = typing.get_type_hints(kind, include_extras=True)
        fields = dataclasses.fields(kind)  # type: ignore[arg-type]
        readers = _READERS[kind] = tuple(_reader(hints[f.name]) for f in fields)
    return readers


def _reader(hint: Any) -> Any:
    if typing.get_origin(hint) is Annotated:
        (rule,) = hint.__metadata__
        if isinstance(rule, OneOf):
            return lambda text: text if text in rule.words else None
        return lambda text: parse_id(text, rule.limit)
    if typing.get_origin(hint) is Literal:
        allowed = {str(value): value for value in typing.get_args(hint)}
        return allowed.get
    if hint is str:
        return lambda text: text or None
    raise TypeError(f"no reader for {hint!r}")


def unpack(data: str, kind: type[Kind]) -> Kind | None:
    """`data` as this kind of button, or None if it is not one."""
    prefix = kind.prefix
    if data == prefix:
        rest: list[str] = []
    elif data.startswith(prefix + ":"):
        rest = data[len(prefix) + 1 :].split(":")
    else:
        return None
    readers = _readers(kind)
    if len(rest) != len(readers):
        return None
    values = [read(text) for read, text in zip(readers, rest, strict=True)]
    if any(value is None for value in values):
        return None
    try:
        return kind(*values)
    except ValueError:  # a kind's own check (__post_init__) refused it
        return None


def decode(data: str, kinds: Iterable[type[ButtonData]]) -> ButtonData | None:
    """The first of `kinds` that `data` is, or None (a stale or forged button)."""
    if len(data.encode()) > MAX_BYTES:
        return None
    for kind in kinds:
        found = unpack(data, kind)
        if found is not None:
            return found
    return None


# The customer's buttons -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Menu(ButtonData):
    prefix = "menu"


@dataclasses.dataclass(frozen=True)
class Hours(ButtonData):
    prefix = "hours"


@dataclasses.dataclass(frozen=True)
class FaqList(ButtonData):
    prefix = "faq:list"


@dataclasses.dataclass(frozen=True)
class FaqPage(ButtonData):
    prefix = "faq:page"
    page: Id32


@dataclasses.dataclass(frozen=True)
class FaqEntry(ButtonData):
    prefix = "faq"
    entry_id: Id32


@dataclasses.dataclass(frozen=True)
class Vote(ButtonData):
    """Did this answer help: names the logged answer, so a vote counts once per answer."""

    prefix = "fb"
    message_id: Id64
    helpful: Literal["y", "n"]


@dataclasses.dataclass(frozen=True)
class AskPerson(ButtonData):
    prefix = "handoff"


@dataclasses.dataclass(frozen=True)
class Complain(ButtonData):
    prefix = "complaint"


@dataclasses.dataclass(frozen=True)
class SendQuestion(ButtonData):
    """Send the question the FAQ did not answer (its logged message) to a person."""

    prefix = "handoff"
    message_id: Id64


@dataclasses.dataclass(frozen=True)
class SurveyAnswer(ButtonData):
    """A score (ASCII digits, checked against the question's scale later) or a word."""

    prefix = "sv"
    delivery_id: Id64
    answer: str

    def __post_init__(self) -> None:
        score = self.answer.isascii() and self.answer.isdigit() and len(self.answer) <= 2
        if not score and self.answer not in ("less", "stop", "skip"):
            raise ValueError(self.answer)


@dataclasses.dataclass(frozen=True)
class CsatScore(ButtonData):
    prefix = "csat"
    ticket_id: Id32
    score: Stars


@dataclasses.dataclass(frozen=True)
class LinkStart(ButtonData):
    prefix = "link"


@dataclasses.dataclass(frozen=True)
class LinkAnswer(ButtonData):
    prefix = "link"
    answer: Literal["yes", "no", "void"]
    code: str


@dataclasses.dataclass(frozen=True)
class Cancel(ButtonData):
    prefix = "cancel"


CUSTOMER_BUTTONS: tuple[type[ButtonData], ...] = (
    Menu,
    Hours,
    FaqList,
    FaqPage,
    FaqEntry,
    Vote,
    AskPerson,
    Complain,
    SendQuestion,
    SurveyAnswer,
    CsatScore,
    LinkStart,
    LinkAnswer,
    Cancel,
)

# The staff group's buttons ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TakeTicket(ButtonData):
    prefix = "tk:take"
    ticket_id: Id32


@dataclasses.dataclass(frozen=True)
class ResolveTicket(ButtonData):
    prefix = "tk:resolve"
    ticket_id: Id32


@dataclasses.dataclass(frozen=True)
class SetPriority(ButtonData):
    prefix = "tk:prio"
    ticket_id: Id32
    priority: str


@dataclasses.dataclass(frozen=True)
class DetractorTicket(ButtonData):
    """Open a ticket for a detractor's survey response."""

    prefix = "dt"
    response_id: Id64


STAFF_BUTTONS: tuple[type[ButtonData], ...] = (
    TakeTicket,
    ResolveTicket,
    SetPriority,
    DetractorTicket,
)
