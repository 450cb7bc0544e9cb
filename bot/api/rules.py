"""Routing rules over the API: the first rule matching a new ticket sets its category,
priority, assignee and labels (`bot.core.tickets.routing`). Every token reads them; admins
change them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import delete

from bot.api.operations import ApiError, Call, Operation
from bot.api.schemas import Model, Removed, Whole
from bot.core.tickets.labels import parse_labels
from bot.core.tickets.routing import rule_problem
from bot.web.keys import SESSION_POOL
from storage.models import RoutingRule
from storage.repositories.api import AuditLog
from storage.repositories.tickets import RuleRepository


class RuleIn(Model):
    """Conditions (all that are given must match) and what a match sets (at least one)."""

    name: str = Field(min_length=1, max_length=64)
    position: Whole = Field(default=100, ge=0, le=1_000_000, description="Lower goes first")
    keywords: list[str] = Field(default_factory=list, max_length=50, description="By stem")
    pattern: str = Field(default="", max_length=500, description="Regular expression, any case")
    channel: str = Field(default="", max_length=32)
    language: Literal["", "ru", "en"] = ""
    set_category: str = Field(default="", max_length=64)
    set_priority: Literal["", "low", "normal", "high", "urgent"] = ""
    set_assignee_id: Whole | None = Field(
        default=None, ge=1, le=2**63 - 1, description="A Telegram user id"
    )
    set_labels: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=10, description="Put on the new ticket"
    )


class RuleOut(RuleIn):
    id: int


class RuleList(Model):
    items: list[RuleOut] = Field(description="In the order they are tried")


def _out(rule: RoutingRule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        position=rule.position,
        keywords=[k for k in rule.keywords.splitlines() if k],
        pattern=rule.pattern,
        channel=rule.channel,
        language=rule.language,  # type: ignore[arg-type]
        set_category=rule.set_category,
        set_priority=rule.set_priority,  # type: ignore[arg-type]
        set_assignee_id=rule.set_assignee_id,
        set_labels=[label for label in rule.set_labels.splitlines() if label],
    )


async def list_rules(call: Call) -> RuleList:
    async with call.request.app[SESSION_POOL]() as session:
        return RuleList(items=[_out(r) for r in await RuleRepository(session).ordered()])


async def add_rule(call: Call) -> RuleOut:
    body: RuleIn = call.body
    rule = RoutingRule(
        **body.model_dump(exclude={"keywords", "set_labels"}),
        keywords="\n".join(k.strip() for k in body.keywords if k.strip()),
        set_labels="\n".join(parse_labels(body.set_labels)),
    )
    problem = rule_problem(rule)
    if problem is not None:
        field = "pattern" if "--pattern" in problem else None
        raise ApiError(422, f"body: {problem.replace('--', '')}", field)
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        rules = RuleRepository(session)
        if await rules.by_name(body.name) is not None:
            raise ApiError(409, f"a rule named {body.name!r} exists; remove it first", "name")
        await rules.add(rule)
        AuditLog(session).add(call.caller.actor, "rule.add", f"rule:{rule.id}")
        return _out(rule)


async def remove_rule(call: Call) -> Removed:
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        result = await session.execute(
            delete(RoutingRule).where(RoutingRule.id == call.ids["rule_id"])
        )
        if not getattr(result, "rowcount", 0):
            raise ApiError(404, "no such rule")
        AuditLog(session).add(call.caller.actor, "rule.remove", f"rule:{call.ids['rule_id']}")
    return Removed(id=call.ids["rule_id"], removed=True)


OPERATIONS = [
    Operation(
        "GET", "/api/v1/rules", "Routing rules in the order they are tried", list_rules, RuleList
    ),
    Operation(
        "POST",
        "/api/v1/rules",
        "Add a routing rule",
        add_rule,
        RuleOut,
        roles=("admin",),
        body=RuleIn,
        status=201,
        errors=(400, 409, 413),
    ),
    Operation(
        "DELETE",
        "/api/v1/rules/{rule_id}",
        "Remove a routing rule",
        remove_rule,
        Removed,
        roles=("admin",),
        errors=(404,),
    ),
]
