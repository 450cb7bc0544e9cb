"""Outgoing webhooks over the API (admins): register a URL for events, list, remove, and read
each delivery's attempts."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from bot.api import schemas
from bot.api.operations import ApiError, Call, Operation
from bot.core.delivery.public_targets import TargetPolicy
from bot.core.delivery.webhooks import cancel_pending_in
from bot.web.keys import SESSION_POOL, SETTINGS
from storage.models import Webhook, WebhookDelivery, utcnow
from storage.repositories.api import AuditLog


def _out(hook: Webhook) -> schemas.WebhookOut:
    return schemas.WebhookOut(
        id=hook.id, url=hook.url, events=hook.events.split(","), created_at=hook.created_at
    )


async def add_webhook(call: Call) -> schemas.WebhookMade:
    body: schemas.WebhookIn = call.body
    allowed = call.request.app[SETTINGS].webhooks.allowed_targets
    refused = TargetPolicy.allowing(allowed).url_refusal(body.url)
    if refused is not None:
        raise ApiError(422, f"not a public address: {refused}", field="url")
    secret = "whsec_" + secrets.token_urlsafe(32)
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        hook = Webhook(
            url=body.url,
            events=",".join(dict.fromkeys(body.events)),
            secret=secret,
            created_at=utcnow(),
        )
        session.add(hook)
        await session.flush()
        AuditLog(session).add(
            call.caller.actor, "webhook.add", f"webhook:{hook.id}", {"url": body.url}
        )
        made = _out(hook)
    return schemas.WebhookMade(**made.model_dump(), secret=secret)


async def list_webhooks(call: Call) -> schemas.WebhookList:
    async with call.request.app[SESSION_POOL]() as session:
        hooks = (
            await session.execute(
                select(Webhook).where(Webhook.removed_at.is_(None)).order_by(Webhook.id)
            )
        ).scalars()
        return schemas.WebhookList(items=[_out(h) for h in hooks])


async def remove_webhook(call: Call) -> schemas.Removed:
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        hook = await session.get(Webhook, call.ids["webhook_id"])
        if hook is None or hook.removed_at is not None:
            raise ApiError(404, "no such webhook")
        hook.removed_at = utcnow()
        cancelled = await cancel_pending_in(session, hook.id)
        AuditLog(session).add(
            call.caller.actor, "webhook.remove", f"webhook:{hook.id}", {"cancelled": cancelled}
        )
    return schemas.Removed(id=call.ids["webhook_id"], removed=True)


async def list_deliveries(call: Call) -> schemas.DeliveryList:
    async with call.request.app[SESSION_POOL]() as session:
        hook = await session.get(Webhook, call.ids["webhook_id"])
        if hook is None or hook.removed_at is not None:
            raise ApiError(404, "no such webhook")
        rows = (
            await session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == hook.id)
                .order_by(WebhookDelivery.id.desc())
                .limit(100)
            )
        ).scalars()
        return schemas.DeliveryList(
            items=[schemas.DeliveryOut.model_validate(r, from_attributes=True) for r in rows]
        )


OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/webhooks",
        "Register a URL for events; deliveries are signed with the secret returned (once)",
        add_webhook,
        schemas.WebhookMade,
        roles=("admin",),
        body=schemas.WebhookIn,
        status=201,
        errors=(400, 413, 422),
    ),
    Operation(
        "GET",
        "/api/v1/webhooks",
        "Registered webhooks",
        list_webhooks,
        schemas.WebhookList,
        roles=("admin",),
    ),
    Operation(
        "DELETE",
        "/api/v1/webhooks/{webhook_id}",
        "Stop delivering to a webhook",
        remove_webhook,
        schemas.Removed,
        roles=("admin",),
        errors=(404,),
    ),
    Operation(
        "GET",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "The newest 100 deliveries with their attempts, status and last error",
        list_deliveries,
        schemas.DeliveryList,
        roles=("admin",),
        errors=(404,),
    ),
]
