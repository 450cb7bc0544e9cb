"""Liveness and metrics endpoints."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.web.errors import json_response
from bot.web.keys import ENGINE, METRICS
from storage.db import DB_ERRORS, ping

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(ping(request.app[ENGINE]), timeout=3)
    except DB_ERRORS:
        return json_response({"status": "error", "database": "unreachable"}, status=503)
    return json_response({"status": "ok", "database": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
