"""Survey metrics against hand-computed values, through SQL on each database and the CLI."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.scores import ces, csat, nps
from bot.reports.surveys import rows_for
from storage import migrate
from storage.db import create_session_pool
from storage.models import SurveyResponse, SurveyScoreDay
from storage.repositories.reports import (
    ReportFilter,
    add_response,
    counts_from_answers,
    counts_from_days,
    score_counts,
)
from tests.conftest import Database, cli_env


def test_nps_definition_and_margin_by_hand():
    # 10 answers: 5 promoters (9-10), 3 passives (7-8), 2 detractors (0-6).
    result = nps(promoters=5, detractors=2, n=10)
    assert result.score == pytest.approx(30.0)
    # p = .5, d = .2: 1.96 * sqrt((.5 + .2 - .09) / 10) * 100 = 48.4085...
    assert result.margin == pytest.approx(1.96 * math.sqrt(0.61 / 10) * 100)
    assert round(result.margin, 2) == 48.41
    assert result.passives == 3 and result.low_confidence
    assert nps(30, 0, 30).low_confidence is False
    assert nps(0, 0, 0).score is None
    assert nps(0, 4, 4).score == -100.0 and nps(4, 0, 4).margin == 0.0


def test_csat_and_ces_by_hand():
    assert csat(satisfied=3, n=4).percent == 75.0
    effort = ces(total=5 + 6 + 7 + 2, agree=3, n=4)
    assert effort.mean == 5.0 and effort.agree_percent == 75.0
    assert csat(0, 0).percent is None and ces(0, 0, 0).mean is None


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


async def _seed(database: Database) -> None:
    # Week of Mon 2026-11-02: scores 10, 9, 8, 3 and one skip; week of Mon 11-09: 0, 10.
    # One NPS answer from another campaign and channel; CSAT and CES answers.
    rows = [
        ("nps", 10, _at(2), 1, "telegram"),
        ("nps", 9, _at(3), 1, "telegram"),
        ("nps", 8, _at(4), 1, "webchat"),
        ("nps", 3, _at(8, 23), 1, "telegram"),  # Sunday late evening: still week 11-02
        ("nps", None, _at(5), 1, "telegram"),
        ("nps", 0, _at(9, 0), 1, "telegram"),  # Monday midnight: week 11-09
        ("nps", 10, _at(10), 1, "telegram"),
        ("nps", 6, _at(11), 2, "webchat"),
        ("csat", 5, _at(3), None, "telegram"),
        ("csat", 4, _at(3), None, "telegram"),
        ("csat", 2, _at(3), None, "webchat"),
        ("ces", 7, _at(3), 3, "telegram"),
        ("ces", 4, _at(3), 3, "telegram"),
    ]
    async with create_session_pool(database.engine)() as session, session.begin():
        for kind, score, at, campaign, channel in rows:
            response = SurveyResponse(
                kind=kind, score=score, created_at=at, campaign_id=campaign, channel=channel
            )
            await add_response(session, response)


async def _report(database: Database, **kwargs: object) -> list[dict]:
    report = ReportFilter(**kwargs)  # type: ignore[arg-type]
    async with create_session_pool(database.engine)() as session:
        return rows_for(report.kind, await score_counts(session, report))


async def test_reports_in_sql_match_hand_computed(database: Database):
    await _seed(database)
    (overall,) = await _report(database, kind="nps")
    # 7 scored: P = 10, 9, 10 (3); D = 3, 0, 6 (3); NPS 0.
    assert (overall["n"], overall["promoters"], overall["detractors"]) == (7, 3, 3)
    assert overall["nps"] == 0.0
    assert overall["margin_95"] == round(1.96 * math.sqrt((3 / 7 + 3 / 7) / 7) * 100, 1)
    weekly = await _report(database, kind="nps", campaign_id=1, by="week")
    assert [(r["period"], r["n"], r["nps"]) for r in weekly] == [
        ("2026-11-02", 4, 25.0),
        ("2026-11-09", 2, 0.0),
    ]
    monthly = await _report(database, kind="nps", by="month", channel="webchat")
    assert [(r["period"], r["n"], r["nps"]) for r in monthly] == [("2026-11-01", 2, -50.0)]
    ranged = await _report(database, kind="nps", since=_at(9, 0), until=_at(11, 0))
    assert ranged[0]["n"] == 2
    # Not whole days: read from the answers, to the hour (the 23:00 answer on the 8th only).
    evening = await _report(database, kind="nps", since=_at(8, 22), until=_at(9, 0))
    assert [(r["n"], r["detractors"]) for r in evening] == [(1, 1)]
    (satisfaction,) = await _report(database, kind="csat")
    assert (satisfaction["n"], satisfaction["csat_percent"]) == (3, 66.7)
    (effort,) = await _report(database, kind="ces")
    assert (effort["mean"], effort["agree_percent"]) == (5.5, 50.0)


async def test_report_cli_formats(database: Database, tmp_path: Path):
    await _seed(database)
    env = cli_env(database)

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "report", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    text = run("nps", "--by", "week", "--campaign", "1")
    assert "2026-11-02  NPS  +25.0 ± " in text and "low confidence" in text
    # N is the sample size; the passives are named, not another "N".
    assert "N=4: promoters 2, passives 1, detractors 1" in text
    assert "95% margin of error" in run("--help") and "%%" not in run("--help")
    data = json.loads(run("csat", "--format", "json"))
    assert data["rows"][0]["csat_percent"] == 66.7
    csv_text = run("ces", "--format", "csv", "--from", "2026-11-01", "--to", "2026-11-30")
    assert csv_text.splitlines() == ["period,n,mean,agree_percent", "all,2,5.5,50.0"]


async def test_daily_rollup_matches_the_answers(database: Database):
    """Random answers through add_response: every report read from the roll-up equals the same
    report scanned from the answers, for each kind, period and filter."""
    rng = random.Random(4)
    scales = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
    start = datetime(2025, 12, 20, tzinfo=UTC)
    async with create_session_pool(database.engine)() as session, session.begin():
        for _ in range(600):
            kind = rng.choice(list(scales))
            score = None if rng.random() < 0.1 else rng.randint(*scales[kind])
            at = start + timedelta(seconds=rng.randint(0, 80 * 86400))
            campaign = rng.choice([None, 1, 2])
            channel = rng.choice(["telegram", "webchat"])
            await add_response(
                session,
                SurveyResponse(
                    kind=kind, score=score, created_at=at, campaign_id=campaign, channel=channel
                ),
            )
    filters: list[dict[str, object]] = [
        {},
        {"campaign_id": 2},
        {"channel": "webchat"},
        {"since": datetime(2026, 1, 5, tzinfo=UTC), "until": datetime(2026, 2, 1, tzinfo=UTC)},
    ]
    checked = 0
    async with create_session_pool(database.engine)() as session:
        for kind in scales:
            for by in (None, "week", "month"):
                for extra in filters:
                    report = ReportFilter(kind=kind, by=by, **extra)  # type: ignore[arg-type]
                    from_days = await counts_from_days(session, report)
                    assert from_days == await counts_from_answers(session, report), report
                    checked += len(from_days)
    assert checked > 100  # weeks across a year boundary, months, several filters


async def test_migration_backfills_the_rollup(database: Database):
    """Answers stored before revision 0008 are counted by its backfill."""
    await migrate.downgrade(database.engine, "0007")
    answers = [
        ("nps", 9, _at(2, 23), 1, "telegram"),
        ("nps", 9, _at(2, 1), 1, "telegram"),
        ("nps", 3, _at(3), None, "webchat"),
        ("nps", None, _at(3), 1, "telegram"),
        ("csat", 5, _at(3), None, "telegram"),
    ]
    async with database.engine.begin() as conn:
        await conn.execute(
            SurveyResponse.__table__.insert(),
            [
                {"kind": k, "score": s, "created_at": at, "campaign_id": c, "channel": ch}
                for k, s, at, c, ch in answers
            ],
        )
    await migrate.upgrade(database.engine)
    async with create_session_pool(database.engine)() as session:
        days = (
            await session.execute(
                select(
                    SurveyScoreDay.kind,
                    SurveyScoreDay.day,
                    SurveyScoreDay.campaign_id,
                    SurveyScoreDay.channel,
                    SurveyScoreDay.score,
                    SurveyScoreDay.answers,
                ).order_by(SurveyScoreDay.kind, SurveyScoreDay.day, SurveyScoreDay.score)
            )
        ).all()
    assert [tuple(row) for row in days] == [
        ("csat", date(2026, 11, 3), 0, "telegram", 5, 1),
        ("nps", date(2026, 11, 2), 1, "telegram", 9, 2),
        ("nps", date(2026, 11, 3), 0, "webchat", 3, 1),
    ]
