"""The REST API under /api/v1/: bearer tokens with roles, JSON in and out, one error shape, an
OpenAPI document at /api/v1/openapi.json generated from the models that validate requests."""

from __future__ import annotations

from aiohttp import web

from bot.api import (
    audit,
    campaigns,
    canned,
    customers,
    faq,
    hours,
    reports,
    rules,
    spec,
    tickets,
    webhooks,
)
from bot.api.operations import Operation, mount
from bot.web.errors import json_response

OPERATIONS: list[Operation] = [
    *tickets.OPERATIONS,
    *customers.OPERATIONS,
    *faq.OPERATIONS,
    *canned.OPERATIONS,
    *rules.OPERATIONS,
    *campaigns.OPERATIONS,
    *hours.OPERATIONS,
    *reports.OPERATIONS,
    *webhooks.OPERATIONS,
    *audit.OPERATIONS,
]
VERSION = "0.1.0"


def routes() -> list[web.RouteDef]:
    document = spec.build(OPERATIONS, VERSION)

    async def openapi(_request: web.Request) -> web.Response:
        return json_response(document)

    return [web.get("/api/v1/openapi.json", openapi), *mount(OPERATIONS)]
