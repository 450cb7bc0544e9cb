"""What a channel can show, and a reply fitted to it.

The conversation core writes one `Reply` (text, rows of buttons); each channel declares its
`Capabilities` and gets the reply reshaped to them here, so no channel receives more buttons in
a row, longer labels or longer text than it can take, and the core never needs to know which
channel it talks to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bot.core.messages import Button, Reply, split_text


@dataclass(frozen=True)
class Capabilities:
    text_chars: int = 4096
    buttons_per_message: int = 100  # 0: the channel shows no buttons
    buttons_per_row: int = 8
    button_chars: int = 64
    media: bool = True
    edits: bool = False
    # Hours after the customer's last message in which free-form replies are allowed (None:
    # always), as WhatsApp's customer-service window.
    reply_window_hours: float | None = None


def fit(reply: Reply, capabilities: Capabilities) -> list[Reply]:
    """The reply as this channel can show it, in one or more messages: text split at
    paragraph or word boundaries, buttons on the last part, rows no wider than the channel
    allows, labels cut to its length; an edit is sent as a new message where edits are not
    possible. Buttons beyond `buttons_per_message` are the channel's to present (a list)."""
    buttons = [_label(button, capabilities.button_chars) for row in reply.buttons for button in row]
    if capabilities.buttons_per_message == 0:
        buttons = []
    width = capabilities.buttons_per_row
    rows: list[tuple[Button, ...]] = []
    for row in reply.buttons:
        fitted = buttons[: len(row)]
        buttons = buttons[len(row) :]
        rows.extend(tuple(fitted[i : i + width]) for i in range(0, len(fitted), width))
    parts = split_text(reply.text, capabilities.text_chars) if reply.text else [""]
    last = len(parts) - 1
    return [
        dataclasses.replace(
            reply,
            text=part,
            title=reply.title if index == 0 else None,
            buttons=tuple(row for row in rows if row) if index == last else (),
            edit_message_id=reply.edit_message_id if capabilities.edits else None,
            attachment=reply.attachment if index == 0 and capabilities.media else None,
            image=reply.image if index == 0 and capabilities.media else None,
        )
        for index, part in enumerate(parts)
    ]


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(button: Button, limit: int) -> Button:
    if len(button.text) <= limit:
        return button
    return Button(cut(button.text, limit), button.data)
