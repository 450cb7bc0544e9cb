"""Survey reports: metrics per period, rendered as text, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from bot.core.scores import ces, csat, nps
from storage.repositories.reports import CampaignRate, ScoreCounts


def rows_for(kind: str, counts: list[ScoreCounts]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for c in counts:
        if kind == "nps":
            result = nps(c.high, c.low, c.n)
            rows.append(
                {
                    "period": c.period,
                    "n": c.n,
                    "promoters": result.promoters,
                    "passives": result.passives,
                    "detractors": result.detractors,
                    "nps": _round(result.score),
                    "margin_95": _round(result.margin),
                    "low_confidence": result.low_confidence,
                }
            )
        elif kind == "csat":
            satisfaction = csat(c.high, c.n)
            rows.append(
                {
                    "period": c.period,
                    "n": c.n,
                    "satisfied": c.high,
                    "csat_percent": _round(satisfaction.percent),
                }
            )
        else:
            effort = ces(c.total, c.high, c.n)
            rows.append(
                {
                    "period": c.period,
                    "n": c.n,
                    "mean": _round(effort.mean, 2),
                    "agree_percent": _round(effort.agree_percent),
                }
            )
    return rows


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def rate_rows(rates: list[CampaignRate]) -> list[dict[str, Any]]:
    """Response rate = answered / delivered, per campaign."""
    return [
        {
            "campaign": r.campaign_id,
            "name": r.name,
            "delivered": r.delivered,
            "answered": r.answered,
            "response_rate_percent": _round(
                100 * r.answered / r.delivered if r.delivered else None
            ),
        }
        for r in rates
    ]


_WORDS = {
    "en": {
        "none": "no answers in this range",
        "low": "low confidence",
        "promoters": "promoters",
        "passives": "passives",
        "detractors": "detractors",
        "mean": "mean",
        "agree": "agree",
    },
    "ru": {
        "none": "нет ответов за этот период",
        "low": "мало ответов",
        "promoters": "промоутеры",
        "passives": "нейтральные",
        "detractors": "критики",
        "mean": "среднее",
        "agree": "согласны",
    },
}


def render(kind: str, rows: list[dict[str, Any]], fmt: str, language: str = "en") -> str:
    """JSON and CSV keep English keys (they are read by programs); text is for people."""
    words = _WORDS.get(language, _WORDS["en"])
    if fmt == "json":
        return json.dumps({"metric": kind, "rows": rows}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return buffer.getvalue()
    if not rows:
        return f"{kind.upper()}: {words['none']}\n"
    lines = []
    for row in rows:
        if kind == "nps":
            mark = f"  * {words['low']} (N < 30)" if row["low_confidence"] else ""
            lines.append(
                f"{row['period']:10}  NPS {row['nps']:+6.1f} ± {row['margin_95']:.1f}  "
                f"N={row['n']}: {words['promoters']} {row['promoters']},"
                f" {words['passives']} {row['passives']},"
                f" {words['detractors']} {row['detractors']}{mark}"
            )
        elif kind == "csat":
            lines.append(f"{row['period']:10}  CSAT {row['csat_percent']:5.1f}%  N={row['n']}")
        elif kind == "response-rate":
            rate = row["response_rate_percent"]
            lines.append(
                f"#{row['campaign']:<4} {row['name'][:30]:30}  {row['answered']}/{row['delivered']}"
                f"  {'—' if rate is None else f'{rate:.1f}%'}"
            )
        else:
            lines.append(
                f"{row['period']:10}  CES {words['mean']} {row['mean']:.2f}  "
                f"{words['agree']} {row['agree_percent']:5.1f}%  N={row['n']}"
            )
    return "\n".join(lines) + "\n"
