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

from bisect import bisect_left
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.figures import Figure, share
from bot.reports.periods import Window, period_of
from storage.repositories import self_service_report as rows
from storage.repositories.faq_gaps import SUGGESTED, UNANSWERED

FOLLOW_UP = timedelta(hours=24)
FOLLOW_UP_MICROS = int(FOLLOW_UP.total_seconds()) * 1_000_000
LISTED = 10


def _followed(answers: list[rows.FaqAnswer], openings: list[tuple[int, int]]) -> set[int]:
    """Message ids of the answers a ticket from the same customer followed within 24 h."""
    by_customer: dict[int, list[int]] = defaultdict(list)
    for customer, at in openings:
        by_customer[customer].append(at)
    for times in by_customer.values():
        times.sort()
    followed = set()
    for answer in answers:
        times = by_customer.get(answer.customer_id, [])
        index = bisect_left(times, answer.at)
        if index < len(times) and times[index] < answer.at + FOLLOW_UP_MICROS:
            followed.add(answer.message_id)
    return followed


def _figures(answers: list[rows.FaqAnswer], followed: set[int], missed: int) -> dict[str, Any]:
    deflected = sum(1 for a in answers if a.message_id not in followed)
    questions = len(answers) + missed
    return {
        "questions": questions,
        "answered_by_faq": len(answers),
        "not_answered": missed,
        "deflected": deflected,
        "deflection_percent": share(deflected, questions),
    }


async def build(session: AsyncSession, window: Window, by: str = "week") -> dict[str, Any]:
    previous = window.previous()
    answers = await rows.faq_answers(session, window.since, window.until)
    earlier = await rows.faq_answers(session, previous.since, previous.until)
    openings = await rows.ticket_openings(session, previous.since, window.until + FOLLOW_UP)
    followed = _followed([*earlier, *answers], openings)
    missed = await rows.misses(session, window.since, window.until)
    missed_before = await rows.misses(session, previous.since, previous.until)
    questions = [m for m in missed if m[0] in (UNANSWERED, SUGGESTED)]
    questions_before = [m for m in missed_before if m[0] in (UNANSWERED, SUGGESTED)]
    now, before = (
        _figures(answers, followed, len(questions)),
        _figures(earlier, followed, len(questions_before)),
    )
    names = await rows.entry_names(session)
    votes = await rows.votes(session, window.since, window.until)
    given = Counter(a.entry_id for a in answers)
    to_ticket = Counter(a.entry_id for a in answers if a.message_id in followed)

    def entry(entry_id: int) -> dict[str, Any]:
        slug, language, question = names.get(entry_id, ("(deleted)", "", ""))
        return {"entry": entry_id, "slug": slug, "language": language, "question": question}

    helpfulness = [
        {
            **entry(e),
            "answers": given[e],
            "helpful": votes.get(e, (0, 0))[0],
            "unhelpful": votes.get(e, (0, 0))[1],
            "helpful_percent": share(votes.get(e, (0, 0))[0], sum(votes.get(e, (0, 0)))),
        }
        for e in sorted(set(given) | set(votes), key=lambda e: (-given[e], e))
    ]
    ending = [
        {**entry(e), "answers": given[e], "tickets": n, "ticket_percent": share(n, given[e])}
        for e, n in sorted(to_ticket.items(), key=lambda item: (-item[1], item[0]))[:LISTED]
    ]
    unanswered = Counter(period_of(at, by, window.zone) for _, at in questions)
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
