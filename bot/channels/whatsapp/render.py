"""A reply as WhatsApp messages: text; up to 3 buttons as reply buttons; up to 10 as a list;
more (an NPS scale) as text the customer answers by typing the option's number. Outside the
24-hour window, the configured template with the text as its parameter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.core.channel import Capabilities, fit
from bot.core.choices import numbered
from bot.core.messages import Reply

CAPABILITIES = Capabilities(
    text_chars=4096,
    buttons_per_message=100,
    buttons_per_row=100,
    button_chars=20,
    media=False,
    edits=False,
    reply_window_hours=24,
)
REPLY_BUTTONS = 3
LIST_ROWS = 10
BODY_CHARS = 1024  # an interactive message's body
ROW_CHARS = 24  # a list row's title
PARAMETER_CHARS = 1000


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
            parameter = " · ".join(line for line in text.splitlines() if line.strip())
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
                                "parameters": [
                                    {"type": "text", "text": parameter[:PARAMETER_CHARS]}
                                ],
                            }
                        ],
                    },
                }
            )
        elif not buttons:
            rendered.messages.append({"to": to, "type": "text", "text": {"body": text or "…"}})
        elif len(buttons) <= REPLY_BUTTONS and len(text) <= BODY_CHARS:
            action = {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.data, "title": b.text[:20]}}
                    for b in buttons
                ]
            }
            interactive = {"type": "button", "body": {"text": text}, "action": action}
            rendered.messages.append({"to": to, "type": "interactive", "interactive": interactive})
        elif len(buttons) <= LIST_ROWS and len(text) <= BODY_CHARS:
            rows = [{"id": b.data, "title": b.text[:ROW_CHARS]} for b in buttons]
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
