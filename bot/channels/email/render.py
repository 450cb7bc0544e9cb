"""A `Reply` as an email: a plain-text part and an HTML part, the score row inside the message.

A survey's answer buttons become links to its page with the score chosen (`/s/TOKEN?score=N`,
where the answer is recorded by the page, never by the click: see `bot.links.pages`); its "ask
me less" and "stop surveys" buttons become the unsubscribe link, which is also in the
`List-Unsubscribe` header with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
Campaign emails say `Auto-Submitted: auto-generated` (RFC 3834), so an auto-responder does not
answer them.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from bot.core.buttons import SurveyAnswer, decode
from bot.core.messages import Reply
from bot.core.texts import t

SURVEY_BUTTONS = (SurveyAnswer,)
BUTTON_STYLE = (
    "display:inline-block;min-width:28px;padding:8px 6px;margin:2px;border:1px solid #d0d7de;"
    "border-radius:6px;color:#0b57d0;text-decoration:none;font:600 16px sans-serif;"
    "text-align:center"
)


@dataclass(frozen=True)
class Envelope:
    sender: str  # From
    recipient: str  # To
    reply_to: str
    language: str
    now: datetime
    domain: str  # for Message-ID
    # A reply in a ticket's thread: its subject, and the Message-IDs it answers.
    subject: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurveyLinks:
    """Where a survey email's links go, for one delivery."""

    page: Callable[[int], str]  # delivery id -> its page's URL
    unsubscribe: Callable[[int], str]  # delivery id -> its one-click unsubscribe URL


def render(reply: Reply, envelope: Envelope, links: SurveyLinks | None) -> EmailMessage:
    language = envelope.language
    scores: list[tuple[str, str]] = []  # (label, url)
    unsubscribe: str | None = None
    for row in reply.buttons:
        for button in row:
            tapped = decode(button.data, SURVEY_BUTTONS)
            if not isinstance(tapped, SurveyAnswer) or links is None:
                continue
            if tapped.answer.isdigit():
                url = f"{links.page(tapped.delivery_id)}?score={tapped.answer}"
                scores.append((button.text, url))
            else:  # "less", "stop", "skip": the way out of surveys
                unsubscribe = links.unsubscribe(tapped.delivery_id)
    message = EmailMessage()
    message["From"] = envelope.sender
    message["To"] = envelope.recipient
    message["Reply-To"] = envelope.reply_to
    message["Date"] = format_datetime(envelope.now)
    message["Message-ID"] = make_msgid(domain=envelope.domain)
    survey = bool(scores)
    message["Subject"] = (
        envelope.subject
        or reply.title
        or t("email_survey_subject" if survey else "email_reply_subject", language)
    )
    if envelope.in_reply_to:
        message["In-Reply-To"] = envelope.in_reply_to
    if envelope.references:
        message["References"] = " ".join(envelope.references)
    if survey:
        message["Auto-Submitted"] = "auto-generated"
    if unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(_plain(reply.text, scores, unsubscribe, language))
    message.add_alternative(_html(reply.text, scores, unsubscribe, language), subtype="html")
    return message


def _plain(text: str, scores: list[tuple[str, str]], unsubscribe: str | None, language: str) -> str:
    lines = [text]
    if scores:
        lines += ["", t("email_pick_plain", language)]
        lines += [f"  {label}: {url}" for label, url in scores]
    if unsubscribe is not None:
        lines += ["", f"{t('email_unsubscribe', language)}: {unsubscribe}"]
    return "\n".join(lines) + "\n"


def _html(text: str, scores: list[tuple[str, str]], unsubscribe: str | None, language: str) -> str:
    body = "<br>".join(html.escape(line) for line in text.splitlines())
    parts = [
        '<!doctype html><html><body style="margin:0;padding:16px;font:16px/1.5 sans-serif">',
        f'<p style="margin:0 0 16px">{body}</p>',
    ]
    if scores:
        cells = "".join(
            f'<a href="{html.escape(url)}" style="{BUTTON_STYLE}">{html.escape(label)}</a>'
            for label, url in scores
        )
        parts.append(f'<p style="margin:0 0 16px">{cells}</p>')
    if unsubscribe is not None:
        parts.append(
            '<p style="margin:24px 0 0;font-size:13px;color:#57606a">'
            f'<a href="{html.escape(unsubscribe)}" style="color:#57606a">'
            f"{html.escape(t('email_unsubscribe', language))}</a></p>"
        )
    parts.append("</body></html>")
    return "".join(parts)
