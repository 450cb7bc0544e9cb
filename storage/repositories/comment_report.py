"""The texts the themes report reads: NPS comments with their score, and what tickets were
opened about (their subject: the first line of the customer's first message)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SurveyResponse, Ticket

# The newest this many texts of a period: themes are the same from a few thousand comments, and
# a report's cost stays bounded however busy the period (README, "Manager reports").
COMMENTS = 3_000
SUBJECTS = 1_000


async def nps_comments(
    session: AsyncSession, since: datetime, until: datetime
) -> list[tuple[int, str]]:
    """(score, comment) of scored NPS answers with a comment, scanner clicks left out."""
    return [(said.score or 0, said.text) for said in await nps_comment_rows(session, since, until)]


async def ticket_subjects(session: AsyncSession, since: datetime, until: datetime) -> list[str]:
    return [said.text for said in await ticket_subject_rows(session, since, until)]


@dataclass(frozen=True)
class Said:
    """One text behind a theme: an NPS answer's comment or a ticket's subject. No customer:
    an anonymous survey's quote never leads back to one."""

    source: str  # "answer" or "ticket"
    id: int
    at: datetime
    score: int | None
    text: str


async def nps_comment_rows(
    session: AsyncSession, since: datetime, until: datetime, low: int = 0, high: int = 10
) -> list[Said]:
    """The newest COMMENTS comments of scored NPS answers (scanner clicks left out), of
    scores from `low` to `high`, with their ids."""
    answer = SurveyResponse
    rows = await session.execute(
        select(answer.id, answer.created_at, answer.score, answer.comment)
        .where(
            answer.kind == "nps",
            answer.created_at >= since,
            answer.created_at < until,
            answer.score.is_not(None),
            answer.comment.is_not(None),
            answer.flagged.is_(None),
        )
        .order_by(answer.created_at.desc())
        .limit(COMMENTS)
    )
    return [
        Said("answer", int(i), at, int(s or 0), str(c))
        for i, at, s, c in rows.all()
        if low <= int(s or 0) <= high
    ]


async def ticket_subject_rows(
    session: AsyncSession, since: datetime, until: datetime
) -> list[Said]:
    rows = await session.execute(
        select(Ticket.id, Ticket.created_at, Ticket.subject)
        .where(Ticket.created_at >= since, Ticket.created_at < until)
        .order_by(Ticket.created_at.desc())
        .limit(SUBJECTS)
    )
    return [Said("ticket", int(i), at, None, str(s)) for i, at, s in rows.all()]
