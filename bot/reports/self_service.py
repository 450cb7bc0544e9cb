"""The self-service report: how much the FAQ saves staff, and where it falls short.

Definitions (README "Reports"):
- a question: an FAQ answer given, or a question the FAQ could not answer (none close
  enough, or only suggestions); a 👎 is a vote, not another question;
- deflected: an FAQ answer after which that customer opened no ticket within 24 hours;
- deflection: deflected answers as a share of all questions;
- helpfulness: 👍 as a share of the votes an entry got in the window;
- ending in a ticket: FAQ answers followed by a ticket from that customer within 24 hours.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.figures import Figure, share
from bot.reports.periods import Window, spans
from storage.repositories import self_service_report as rows
from storage.repositories.faq_gaps import SUGGESTED, UNANSWERED

QUESTIONS = (UNANSWERED, SUGGESTED)
LISTED = 10


def _figures(entries: list[rows.EntryAnswers], missed: dict[str, int]) -> dict[str, Any]:
    answered = sum(e.answers for e in entries)
    deflected = answered - sum(e.followed for e in entries)
    not_answered = sum(missed.get(kind, 0) for kind in QUESTIONS)
    questions = answered + not_answered
    return {
        "questions": questions,
        "answered_by_faq": answered,
        "not_answered": not_answered,
        "deflected": deflected,
        "deflection_percent": share(deflected, questions),
    }


async def build(session: AsyncSession, window: Window, by: str = "week") -> dict[str, Any]:
    previous = window.previous()
    entries = await rows.answers_per_entry(session, window.since, window.until)
    earlier = await rows.answers_per_entry(session, previous.since, previous.until)
    now = _figures(entries, await rows.misses_by_kind(session, window.since, window.until))
    before = _figures(earlier, await rows.misses_by_kind(session, previous.since, previous.until))
    names = await rows.entry_names(session)
    votes = await rows.votes(session, window.since, window.until)
    given = {e.entry_id: e.answers for e in entries}
    to_ticket = {e.entry_id: e.followed for e in entries if e.followed}

    def entry(entry_id: int) -> dict[str, Any]:
        slug, language, question = names.get(entry_id, ("(deleted)", "", ""))
        return {"entry": entry_id, "slug": slug, "language": language, "question": question}

    helpfulness = [
        {
            **entry(e),
            "answers": given.get(e, 0),
            "helpful": votes.get(e, (0, 0))[0],
            "unhelpful": votes.get(e, (0, 0))[1],
            "helpful_percent": share(votes.get(e, (0, 0))[0], sum(votes.get(e, (0, 0)))),
        }
        for e in sorted(set(given) | set(votes), key=lambda e: (-given.get(e, 0), e))
    ]
    ending = [
        {**entry(e), "answers": given[e], "tickets": n, "ticket_percent": share(n, given[e])}
        for e, n in sorted(to_ticket.items(), key=lambda item: (-item[1], item[0]))[:LISTED]
    ]
    unanswered = await rows.misses_per_span(session, spans(window, by), QUESTIONS)
    return {
        "report": "faq",
        "window": window.as_dict(),
        "previous_window": previous.as_dict(),
        "summary": {k: Figure(v, before[k]).as_dict() for k, v in now.items()},
        "entries": helpfulness,
        "ending_in_ticket": ending,
        "unanswered_by_period": {
            "by": by,
            "rows": [{"period": p, "questions": unanswered[p]} for p in sorted(unanswered)],
        },
    }


async def answer_list(
    session: AsyncSession,
    window: Window,
    entry_id: int | None = None,
    followed: bool | None = None,
) -> list[dict[str, Any]]:
    """One row per FAQ answer behind a number of the report (its CSV export)."""
    names = await rows.entry_names(session)
    found = await rows.faq_answer_rows(session, window.since, window.until, entry_id, followed)
    return [
        {
            "message": a.message_id,
            "customer": a.customer_id,
            "answered_at": a.at.isoformat(),
            "entry": a.entry_id,
            "slug": names.get(a.entry_id, ("(deleted)", "", ""))[0],
            "ticket_within_24h": a.followed,
        }
        for a in found
    ]
