"""The audit log over the API: admins only."""

from __future__ import annotations

from bot.api import schemas
from bot.api.operations import Call, Operation
from bot.web.keys import SESSION_POOL
from storage.repositories.api import AuditLog


async def list_audit(call: Call) -> schemas.AuditPage:
    query: schemas.AuditQuery = call.query
    async with call.request.app[SESSION_POOL]() as session:
        rows = await AuditLog(session).page(query.limit, query.before_id)
        items = [schemas.AuditItem.model_validate(r, from_attributes=True) for r in rows]
    return schemas.AuditPage(items=items)


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/audit",
        "Writes made through the API, newest first (who, what, on what, when)",
        list_audit,
        schemas.AuditPage,
        roles=("admin",),
        query=schemas.AuditQuery,
    ),
]
