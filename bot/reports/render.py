"""The manager reports (tickets, faq, customers) as text for people, and as CSV: the report's
figures one per row, or (`rows`) one row per ticket or answer behind them. JSON is the report
tree as it is."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from bot.core.texts import t
from bot.reports.tickets import age_slug


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def as_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def figure_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every number of the report, one per row: figure (a path such as
    summary.first_response.working.median or by_category.delivery), value, previous, change."""
    return list(_walk("", {k: v for k, v in report.items() if k not in _META}))


_META = ("report", "window", "previous_window", "churn_definition", "churn_months")
_LIST_KEYS = ("key", "period", "month", "cohort", "slug", "name", "age", "ticket", "theme")


def _walk(path: str, node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "value" in node and "previous" in node:
            yield {"figure": path, **{k: node.get(k) for k in _FIGURE}}
            return
        for key, value in node.items():
            yield from _walk(f"{path}.{key}" if path else key, value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                label = next((str(item[k]) for k in _LIST_KEYS if k in item), "")
                rest = {k: v for k, v in item.items() if k not in _LIST_KEYS or str(v) != label}
                yield from _walk(f"{path}.{label}", rest)
    elif (isinstance(node, int | float) and not isinstance(node, bool)) or node is None:
        yield {
            "figure": path,
            "value": node,
            "previous": None,
            "change": None,
            "change_percent": None,
        }


_FIGURE = ("value", "previous", "change", "change_percent")


def _figure(node: dict[str, Any], language: str, unit: str = "") -> str:
    value, previous, change = node["value"], node["previous"], node["change"]
    if value is None:
        return "—"
    text = f"{_number(value)}{unit}"
    if previous is None:
        return text
    return t(
        "rep_before",
        language,
        value=text,
        previous=f"{_number(previous)}{unit}",
        change=_signed(change),
    )


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _signed(value: Any) -> str:
    if value is None:
        return "—"
    return f"+{_number(value)}" if value > 0 else _number(value)


def _times(node: dict[str, Any], language: str) -> str:
    unit = " " + t("rep_min", language)
    return t(
        "rep_times",
        language,
        median=_figure(node["median"], language, unit),
        p90=_figure(node["p90"], language, unit),
        mean=_figure(node["mean"], language, unit),
        n=node["n"]["value"],
    )


def _share(value: Any) -> str:
    return "—" if value is None else f"{_number(value)}%"


def tickets_text(report: dict[str, Any], language: str = "en") -> str:
    s = report["summary"]
    w, p = report["window"], report["previous_window"]
    lines = [
        t(
            "rep_tickets_head",
            language,
            first=w["from"],
            last=w["to"],
            zone=w["zone"],
            before_first=p["from"],
            before_last=p["to"],
        ),
        t(
            "rep_tickets_opened",
            language,
            opened=_figure(s["tickets"], language),
            answered=_figure(s["answered"], language),
            resolved=_figure(s["resolved"], language),
        ),
    ]
    for key, node in (
        ("rep_first_working", s["first_response"]["working"]),
        ("rep_first_wall", s["first_response"]["wall"]),
        ("rep_resolution_working", s["resolution"]["working"]),
        ("rep_resolution_wall", s["resolution"]["wall"]),
    ):
        lines.append(t(key, language, times=_times(node, language)))
    lines.append(
        t(
            "rep_target",
            language,
            share=_figure(s["within_target_percent"], language, "%"),
            count=report["breaches"]["count"],
        )
    )
    lines.append(
        t(
            "rep_reopened",
            language,
            share=_figure(s["reopen_rate_percent"], language, "%"),
            csat=_figure(s["csat_percent"], language, "%"),
        )
    )
    backlog = report["backlog"]
    ages = ", ".join(
        f"{t('rep_age_' + age_slug(a['age']), language)} {a['tickets']}"
        for a in backlog["by_age"]
        if a["tickets"]
    )
    lines.append(
        t("rep_backlog", language, at=backlog["as_of"][:16].replace("T", " "), open=backlog["open"])
        + (f" ({ages})" if ages else "")
    )
    by = report["by_period"]
    if by["rows"]:
        rows = ", ".join(f"{r['period']} {r['tickets']}" for r in by["rows"])
        lines.append(
            t("rep_by_period", language, by=t(f"rep_period_{by['by']}", language), rows=rows)
        )
    for dimension in ("category", "channel", "priority", "rule", "assignee"):
        found = report[f"by_{dimension}"]
        if found:
            rows = ", ".join(
                f"{r['key']} {_number(r['value'])} ({_signed(r['change'])})" for r in found
            )
            dimension_word = t(f"rep_dim_{dimension}", language)
            lines.append(t("rep_by", language, dimension=dimension_word, rows=rows))
    if report["breaches"]["tickets"]:
        listed = ", ".join(f"#{b['ticket']}" for b in report["breaches"]["tickets"])
        lines.append(t("rep_breaches", language, tickets=listed))
    unit = " " + t("rep_min", language)
    for staff in report["staff"]:
        median = staff["first_response_working_median_minutes"]
        lines.append(
            t(
                "rep_staff",
                language,
                name=staff["name"],
                tickets=staff["tickets"],
                resolved=staff["resolved"],
                median="—" if median is None else f"{_number(median)}{unit}",
                csat=_share(staff["csat_percent"]),
                n=staff["csat_n"],
            )
        )
    return "\n".join(lines) + "\n"


def faq_text(report: dict[str, Any], language: str = "en") -> str:
    s = report["summary"]
    w = report["window"]
    lines = [
        t("rep_faq_head", language, first=w["from"], last=w["to"]),
        t(
            "rep_faq_questions",
            language,
            questions=_figure(s["questions"], language),
            answered=_figure(s["answered_by_faq"], language),
            missed=_figure(s["not_answered"], language),
        ),
        t("rep_deflection", language, share=_figure(s["deflection_percent"], language, "%")),
    ]
    for entry in report["entries"][:10]:
        helpful = entry["helpful_percent"]
        lines.append(
            t(
                "rep_faq_entry",
                language,
                slug=entry["slug"],
                entry_language=entry["language"],
                answers=entry["answers"],
                helpful=entry["helpful"],
                unhelpful=entry["unhelpful"],
            )
            + ("" if helpful is None else t("rep_helpful", language, share=_number(helpful)))
        )
    if report["ending_in_ticket"]:
        entries = ", ".join(
            f"{e['slug']} {e['tickets']}/{e['answers']}" for e in report["ending_in_ticket"]
        )
        lines.append(t("rep_faq_to_ticket", language, entries=entries))
    rows = report["unanswered_by_period"]["rows"]
    if rows:
        listed = ", ".join(f"{r['period']} {r['questions']}" for r in rows)
        lines.append(t("rep_faq_unanswered", language, rows=listed))
    return "\n".join(lines) + "\n"


def customers_text(report: dict[str, Any], language: str = "en", churn_months: int = 1) -> str:
    s = report["summary"]
    w = report["window"]
    lines = [
        t("rep_customers_head", language, first=w["from"], last=w["to"]),
        t(
            "rep_customers_active",
            language,
            active=_figure(s["active"], language),
            new=_figure(s["new"], language),
            churn=_figure(s["churn_percent"], language, "%"),
        ),
        t("rep_churn_definition", language, months=report.get("churn_months", churn_months)),
    ]
    for m in report["months"]:
        churn = "—" if m["churned"] is None else f"{m['churned']} ({_share(m['churn_percent'])})"
        lines.append(
            t(
                "rep_month",
                language,
                month=m["month"],
                active=m["active"],
                new=m["new"],
                returning=m["returning"],
                churn=churn,
            )
        )
    for group in ("churned", "retained"):
        found = report["churned_vs_retained"][group]
        nps = "—" if found["nps"] is None else f"{found['nps']:+.1f} ± {found['nps_margin_95']:.1f}"
        lines.append(
            t(
                f"rep_{group}",
                language,
                nps=nps,
                nps_n=found["nps_n"],
                csat=_share(found["csat_percent"]),
                csat_n=found["csat_n"],
            )
        )
    for cohort in report["cohorts"]:
        lines.append(
            t(
                "rep_cohort",
                language,
                cohort=cohort["cohort"],
                size=cohort["size"],
                active=" ".join(str(n) for n in cohort["active"]),
            )
        )
    return "\n".join(lines) + "\n"


def themes_text(report: dict[str, Any], language: str = "en") -> str:
    w = report["window"]
    nps = report["summary"]["nps"]
    lines = [t("rep_themes_head", language, first=w["from"], last=w["to"])]
    if nps["value"] is not None:
        verdict = "rep_significant" if report["nps_change_significant"] else "rep_not_significant"
        margin = report["nps_combined_margin_95"]
        lines.append(
            t(
                "rep_themes_nps",
                language,
                nps=f"{nps['value']:+.1f} ± {report['nps_margin_95']:.1f}",
                previous="—" if nps["previous"] is None else f"{nps['previous']:+.1f}",
            )
            + (
                ""
                if margin is None
                else " "
                + t(verdict, language, change=f"{nps['change']:+.1f}", margin=f"{margin:.1f}")
            )
        )
    for group, found in report["groups"].items():
        lines.append(t(f"rep_group_{group}", language, texts=found["texts"]))
        for theme in found["themes"]:
            quote = theme["examples"][0] if theme["examples"] else ""
            lines.append(
                f"  {theme['theme']}: {theme['count']} ({_signed(theme['change'])}) — «{quote}»"
            )
    return "\n".join(lines) + "\n"


TEXT = {
    "tickets": tickets_text,
    "faq": faq_text,
    "customers": customers_text,
    "themes": themes_text,
}
