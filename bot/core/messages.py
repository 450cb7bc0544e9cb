"""The two shapes every channel speaks: one inbound message, one outbound reply."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    text: str
    data: str  # at most 64 bytes: Telegram's callback_data limit binds every channel


@dataclass(frozen=True)
class Attachment:
    """A file the channel already holds (a Telegram file_id); kind is "photo" or "document"."""

    kind: str
    file_id: str


@dataclass(frozen=True)
class KeptFile:
    """A file the channel stored itself (an email's attachment, in `file_blobs` by its
    SHA-256): what a ticket message lists under the name it came with."""

    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class InboundMessage:
    """A customer's text or button press, with nothing channel-specific left in it."""

    channel: str
    external_id: str
    text: str = ""
    button: str | None = None
    display_name: str = ""
    language_code: str | None = None
    command: str | None = None  # "start", "hours", "menu", ... without the slash
    attachment: Attachment | None = None
    files: tuple[KeptFile, ...] = ()
    edited: bool = False  # a correction of a message sent earlier, where the channel has edits
    # From a channel that threads (email): always for a ticket, never the FAQ. The ticket the
    # thread names (0: none named; the customer's open ticket, else a new one).
    thread: int | None = None


@dataclass(frozen=True)
class Reply:
    """Plain text; each channel escapes and formats it for its own medium."""

    text: str
    title: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)
    attachment: Attachment | None = None
    # Replace the text and buttons of an earlier message (a survey becoming its follow-up)
    # where the channel can; elsewhere it is sent as a new message.
    edit_message_id: int | None = None
    # Where the edit fails (the message is too old or deleted): drop it instead of sending it new.
    edit_only: bool = False
    image: bytes | None = None  # a generated PNG (a chart); `text` is its caption


def split_text(text: str, limit: int = 4096) -> list[str]:
    """Split at paragraph, line or word boundaries so no part exceeds `limit` characters."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
