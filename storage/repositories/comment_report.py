"""The texts the themes report reads: NPS comments with their score, and what tickets were
opened about (their subject: the first line of the customer's first message)."""

from __future__ import annotations

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
    answer = SurveyResponse
    rows = await session.execute(
        select(answer.score, answer.comment)
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
    return [(int(s or 0), str(c)) for s, c in rows.all()]


async def ticket_subjects(session: AsyncSession, since: datetime, until: datetime) -> list[str]:
    rows = await session.execute(
        select(Ticket.subject)
        .where(Ticket.created_at >= since, Ticket.created_at < until)
        .order_by(Ticket.created_at.desc())
        .limit(SUBJECTS)
    )
    return [str(s) for s in rows.scalars()]
