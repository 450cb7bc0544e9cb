"""Liveness and metrics endpoints."""

from __future__ import annotations

import asyncio
import ipaddress

from aiohttp import web

from bot.web.errors import json_response
from bot.web.keys import ENGINE, METRICS, STATUS
from storage.db import DB_ERRORS, ping

routes = web.RouteTableDef()


def _local(request: web.Request) -> bool:
    """A probe from this machine (a container's own health check, an operator's curl): not one
    relayed by a proxy, which says whom it relays in X-Forwarded-For."""
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """503 when the bot cannot work (the database does not answer, or refuses writes); 200
    "degraded" with the reasons when a part is failing but customers are still served. The
    reasons (error texts, internal hosts) are shown to a local caller only; anyone else gets
    the status alone."""
    try:
        await asyncio.wait_for(ping(request.app[ENGINE]), timeout=3)
    except DB_ERRORS:
        return json_response({"status": "error", "database": "unreachable"}, status=503)
    status = request.app[STATUS]
    problems = status.problems()
    if not problems:
        return json_response({"status": "ok", "database": "ok"})
    body: dict[str, object] = {
        "status": "error" if status.critical else "degraded",
        "database": "writes failing" if status.writes_failing else "ok",
    }
    if _local(request):
        body["problems"] = problems
    return json_response(body, status=503 if status.critical else 200)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
