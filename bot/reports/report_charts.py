"""Each manager report's chart as PNG, the same in Telegram, the console, the API and the CLI:
tickets and unanswered FAQ questions per period, active customers per month, the detractors'
themes."""

from __future__ import annotations

from typing import Any

from bot.core.texts import t
from bot.reports.charts import bars_png


def bars_of(report: dict[str, Any]) -> list[tuple[str, float]]:
    """The series a report's chart draws."""
    kind = report["report"]
    if kind == "tickets":
        return [(r["period"], r["tickets"]) for r in report["by_period"]["rows"]]
    if kind == "faq":
        return [(r["period"], r["questions"]) for r in report["unanswered_by_period"]["rows"]]
    if kind == "customers":
        return [(r["month"], r["active"]) for r in report["months"]]
    if kind == "themes":
        found = report["groups"]["detractors"]["themes"]
        return [(theme["theme"], theme["count"]) for theme in found]
    raise ValueError(f"no chart for {kind!r}")


def report_png(report: dict[str, Any], language: str = "en") -> bytes:
    window = report["window"]
    by = (report.get("by_period") or report.get("unanswered_by_period") or {}).get("by", "")
    title = t(
        f"rep_chart_{report['report']}", language, by=by, first=window["from"], last=window["to"]
    )
    return bars_png(title, bars_of(report), t("rep_chart_empty", language))
