"""Reports over the API: NPS (with its margin of error), CSAT, CES and response rates, as JSON
or CSV, the same numbers `otklik report` prints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from bot.api import schemas
from bot.api.operations import Call, Operation
from bot.reports import rate_rows, render, rows_for
from bot.web.keys import SESSION_POOL
from storage.repositories.reports import ReportFilter, response_rates, score_counts

MODELS: dict[str, type[BaseModel]] = {
    "nps": schemas.NpsReport,
    "csat": schemas.CsatReport,
    "ces": schemas.CesReport,
    "response-rate": schemas.RateReport,
}


def _report(metric: str) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        query: schemas.ReportQuery = call.query
        since = datetime.combine(query.from_, time(), UTC) if query.from_ else None
        until = datetime.combine(query.to + timedelta(days=1), time(), UTC) if query.to else None
        async with call.request.app[SESSION_POOL]() as session:
            if metric == "response-rate":
                rows = rate_rows(await response_rates(session, query.campaign))
            else:
                report = ReportFilter(metric, since, until, query.campaign, query.channel, query.by)
                rows = rows_for(metric, await score_counts(session, report))
        if query.format == "csv":
            return web.Response(
                text=render(metric, rows, "csv"),
                content_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{metric}.csv"'},
            )
        return MODELS[metric].model_validate({"metric": metric, "rows": rows})

    handler.__name__ = f"report_{metric.replace('-', '_')}"
    return handler


OPERATIONS = [
    Operation(
        "GET",
        f"/api/v1/reports/{metric}",
        summary,
        _report(metric),
        MODELS[metric],
        query=schemas.ReportQuery,
        alternate="text/csv",
    )
    for metric, summary in (
        ("nps", "NPS = 100·(P − D)/N with its 95 % margin of error, per period"),
        ("csat", "CSAT: the share of 4 and 5, per period"),
        ("ces", "CES: the mean and the share of 5-7, per period"),
        ("response-rate", "Answered / delivered, per campaign"),
    )
]
