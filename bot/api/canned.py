"""Canned replies over the API: the texts staff send with `/canned NAME` in a topic or pick in
the web inbox. Every token reads them; admins change them."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import delete

from bot.api.operations import ApiError, Call, Operation
from bot.api.schemas import Model, Removed
from bot.web.keys import SESSION_POOL
from storage.models import CannedReply
from storage.repositories.api import AuditLog
from storage.repositories.tickets import CannedRepository


class CannedIn(Model):
    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="One word: /canned NAME"
    )
    text: str = Field(min_length=1, max_length=4096)


class CannedOut(Model):
    id: int
    name: str
    text: str


class CannedList(Model):
    items: list[CannedOut]


def _out(reply: CannedReply) -> CannedOut:
    return CannedOut(id=reply.id, name=reply.name, text=reply.text)


async def list_canned(call: Call) -> CannedList:
    async with call.request.app[SESSION_POOL]() as session:
        return CannedList(items=[_out(r) for r in await CannedRepository(session).all()])


async def save_canned(call: Call) -> CannedOut:
    body: CannedIn = call.body
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        reply = await CannedRepository(session).add(body.name, body.text)
        await session.flush()
        AuditLog(session).add(call.caller.actor, "canned.save", f"canned:{reply.name}")
        return _out(reply)


async def remove_canned(call: Call) -> Removed:
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        result = await session.execute(
            delete(CannedReply).where(CannedReply.id == call.ids["canned_id"])
        )
        if not getattr(result, "rowcount", 0):
            raise ApiError(404, "no such canned reply")
        AuditLog(session).add(call.caller.actor, "canned.remove", f"canned:{call.ids['canned_id']}")
    return Removed(id=call.ids["canned_id"], removed=True)


OPERATIONS = [
    Operation("GET", "/api/v1/canned", "Canned replies, by name", list_canned, CannedList),
    Operation(
        "POST",
        "/api/v1/canned",
        "Save a canned reply (one of the same name is replaced)",
        save_canned,
        CannedOut,
        roles=("admin",),
        body=CannedIn,
        errors=(400, 413),
    ),
    Operation(
        "DELETE",
        "/api/v1/canned/{canned_id}",
        "Remove a canned reply",
        remove_canned,
        Removed,
        roles=("admin",),
        errors=(404,),
    ),
]
