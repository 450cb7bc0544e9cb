"""The manager reports (tickets, faq, customers) as text for people, and as CSV: the report's
figures one per row, or (`rows`) one row per ticket or answer behind them. JSON is the report
tree as it is."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any


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


_META = ("report", "window", "previous_window", "churn_definition")
_LIST_KEYS = ("key", "period", "month", "cohort", "slug", "name", "age", "ticket")


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


def _figure(node: dict[str, Any], unit: str = "") -> str:
    value, previous, change = node["value"], node["previous"], node["change"]
    if value is None:
        return "—"
    text = f"{_number(value)}{unit}"
    if previous is not None:
        sign = "+" if (change or 0) > 0 else ""
        text += f" (before {_number(previous)}{unit}, {sign}{_number(change)})"
    return text


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _times(node: dict[str, Any]) -> str:
    return (
        f"median {_figure(node['median'], ' min')}, p90 {_figure(node['p90'], ' min')}, "
        f"mean {_figure(node['mean'], ' min')}; n={node['n']['value']}"
    )


def tickets_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    w, p = report["window"], report["previous_window"]
    lines = [
        f"Tickets {w['from']} to {w['to']} ({w['zone']}), against {p['from']} to {p['to']}",
        f"Opened: {_figure(s['tickets'])}; answered {_figure(s['answered'])}; "
        f"resolved {_figure(s['resolved'])}",
        f"First reply, working hours: {_times(s['first_response']['working'])}",
        f"First reply, wall clock: {_times(s['first_response']['wall'])}",
        f"Resolution, working hours: {_times(s['resolution']['working'])}",
        f"Resolution, wall clock: {_times(s['resolution']['wall'])}",
        f"First reply within target: {_figure(s['within_target_percent'], '%')}; "
        f"breaches: {report['breaches']['count']}",
        f"Reopened: {_figure(s['reopen_rate_percent'], '%')}; "
        f"CSAT {_figure(s['csat_percent'], '%')}",
    ]
    backlog = report["backlog"]
    ages = ", ".join(f"{a['age']} {a['tickets']}" for a in backlog["by_age"] if a["tickets"])
    lines.append(
        f"Open at {backlog['as_of'][:16]}: {backlog['open']}" + (f" ({ages})" if ages else "")
    )
    by = report["by_period"]
    if by["rows"]:
        lines.append(
            f"By {by['by']}: " + ", ".join(f"{r['period']} {r['tickets']}" for r in by["rows"])
        )
    for dimension in ("category", "channel", "priority", "rule", "assignee"):
        found = report[f"by_{dimension}"]
        if found:
            lines.append(
                f"By {dimension}: "
                + ", ".join(
                    f"{r['key']} {_number(r['value'])} ({_signed(r['change'])})" for r in found
                )
            )
    if report["breaches"]["tickets"]:
        lines.append(
            "Breaches: " + ", ".join(f"#{b['ticket']}" for b in report["breaches"]["tickets"])
        )
    for staff in report["staff"]:
        median = staff["first_response_working_median_minutes"]
        csat = staff["csat_percent"]
        lines.append(
            f"  {staff['name']}: {staff['tickets']} tickets, {staff['resolved']} resolved, "
            f"first reply median {'—' if median is None else f'{_number(median)} min'} (working), "
            f"CSAT {'—' if csat is None else f'{_number(csat)}%'} (n={staff['csat_n']})"
        )
    return "\n".join(lines) + "\n"


def faq_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    w = report["window"]
    lines = [
        f"Self-service {w['from']} to {w['to']}",
        f"Questions: {_figure(s['questions'])}; "
        f"answered by the FAQ {_figure(s['answered_by_faq'])}; "
        f"not answered {_figure(s['not_answered'])}",
        f"Deflection (no ticket within 24 h): {_figure(s['deflection_percent'], '%')}",
    ]
    for entry in report["entries"][:10]:
        helpful = entry["helpful_percent"]
        lines.append(
            f"  {entry['slug']} ({entry['language']}): {entry['answers']} answers, "
            f"👍 {entry['helpful']} 👎 {entry['unhelpful']}"
            + ("" if helpful is None else f" ({_number(helpful)}% helpful)")
        )
    if report["ending_in_ticket"]:
        lines.append(
            "Most often followed by a ticket: "
            + ", ".join(
                f"{e['slug']} {e['tickets']}/{e['answers']}" for e in report["ending_in_ticket"]
            )
        )
    rows = report["unanswered_by_period"]["rows"]
    if rows:
        lines.append("Not answered: " + ", ".join(f"{r['period']} {r['questions']}" for r in rows))
    return "\n".join(lines) + "\n"


def customers_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    w = report["window"]
    lines = [
        f"Customers {w['from']} to {w['to']} (UTC months)",
        f"Active: {_figure(s['active'])}; new {_figure(s['new'])}; "
        f"churn {_figure(s['churn_percent'], '%')}",
        f"Churn: {report['churn_definition']}",
    ]
    for m in report["months"]:
        churn = "—" if m["churned"] is None else f"{m['churned']} ({_number(m['churn_percent'])}%)"
        lines.append(
            f"  {m['month']}: active {m['active']} (new {m['new']}, returning {m['returning']}), "
            f"churned after it {churn}"
        )
    for group in ("churned", "retained"):
        found = report["churned_vs_retained"][group]
        nps = "—" if found["nps"] is None else f"{found['nps']:+.1f} ± {found['nps_margin_95']:.1f}"
        csat = "—" if found["csat_percent"] is None else f"{_number(found['csat_percent'])}%"
        lines.append(
            f"{group.title()}: NPS {nps} (n={found['nps_n']}), CSAT {csat} (n={found['csat_n']})"
        )
    for cohort in report["cohorts"]:
        lines.append(
            f"  cohort {cohort['cohort']} ({cohort['size']}): "
            + " ".join(str(n) for n in cohort["active"])
        )
    return "\n".join(lines) + "\n"


def _signed(value: Any) -> str:
    if value is None:
        return "—"
    return f"+{_number(value)}" if value > 0 else _number(value)


TEXT = {"tickets": tickets_text, "faq": faq_text, "customers": customers_text}
