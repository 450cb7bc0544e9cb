"""A reply as WhatsApp messages: text; up to 3 buttons as reply buttons; up to 10 as a list;
more (an NPS scale) as text the customer answers by typing the option's number. Outside the
24-hour window, the configured template with the text as its parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.channel import Capabilities, cut, fit
from bot.core.choices import numbered
from bot.core.messages import Reply

CAPABILITIES = Capabilities(
    text_chars=4096,
    buttons_per_message=100,
    buttons_per_row=100,
    # Labels are cut per kind below (a reply button 20, a list row 24 + a description 72); a
    # numbered choice in a text message shows the whole label.
    button_chars=200,
    media=False,
    edits=False,
    reply_window_hours=24,
)
REPLY_BUTTONS = 3
REPLY_CHARS = 20  # a reply button's title; titles must differ within a message (131009)
LIST_ROWS = 10
BODY_CHARS = 1024  # an interactive message's body
ROW_CHARS = 24  # a list row's title; row titles must differ too
DESCRIPTION_CHARS = 72  # a list row's description: the rest of a longer label
PARAMETER_CHARS = 1000
_SPACES = re.compile(r"[ \t]{2,}")


def _distinct(titles: list[str]) -> bool:
    return len(set(titles)) == len(titles)


def template_parameter(text: str) -> str:
    """A template parameter as Meta takes it: no newline or tab, never more than four spaces
    in a row (else 132000 and the message is lost), at most 1,000 characters."""
    joined = " · ".join(line.strip() for line in text.splitlines() if line.strip())
    return _SPACES.sub(" ", joined.replace("\t", " "))[:PARAMETER_CHARS]


@dataclass
class Rendered:
    messages: list[dict[str, Any]]
    # What a typed answer means: the text to type -> button data (numbered choices).
    choices: dict[str, str] = field(default_factory=dict)


def render(reply: Reply, to: str, *, window_open: bool, template: str, language: str) -> Rendered:
    rendered = Rendered([])
    for part in fit(reply, CAPABILITIES):
        text = f"*{part.title}*\n{part.text}" if part.title else part.text
        buttons = [b for row in part.buttons for b in row]
        if not window_open:
            if buttons:
                text, choices = numbered(text, buttons)
                rendered.choices.update(choices)
            parameter = template_parameter(text)
            rendered.messages.append(
                {
                    "to": to,
                    "type": "template",
                    "template": {
                        "name": template,
                        "language": {"code": language},
                        "components": [
                            {
                                "type": "body",
                                "parameters": [{"type": "text", "text": parameter}],
                            }
                        ],
                    },
                }
            )
        elif not buttons:
            rendered.messages.append({"to": to, "type": "text", "text": {"body": text or "…"}})
        elif (
            len(buttons) <= REPLY_BUTTONS
            and len(text) <= BODY_CHARS
            and _distinct(titles := [cut(b.text, REPLY_CHARS) for b in buttons])
        ):
            action = {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.data, "title": title}}
                    for b, title in zip(buttons, titles, strict=True)
                ]
            }
            interactive = {"type": "button", "body": {"text": text}, "action": action}
            rendered.messages.append({"to": to, "type": "interactive", "interactive": interactive})
        elif (
            len(buttons) <= LIST_ROWS
            and len(text) <= BODY_CHARS
            and _distinct(titles := [cut(b.text, ROW_CHARS) for b in buttons])
        ):
            rows = []
            for button, title in zip(buttons, titles, strict=True):
                row = {"id": button.data, "title": title}
                if title != button.text:  # the whole label, as the row's description
                    row["description"] = cut(button.text, DESCRIPTION_CHARS)
                rows.append(row)
            interactive = {
                "type": "list",
                "body": {"text": text},
                "action": {"button": "☰", "sections": [{"title": "—", "rows": rows}]},
            }
            rendered.messages.append({"to": to, "type": "interactive", "interactive": interactive})
        else:
            body, choices = numbered(text, buttons)
            rendered.choices.update(choices)
            rendered.messages.append({"to": to, "type": "text", "text": {"body": body}})
    return rendered
