"""FAQ entries over the API: list, read, create, edit (If-Match, so two editors cannot
overwrite each other unseen), delete, and the whole FAQ exported and imported in the YAML
format of `otklik faq import|export`. Reading is for every token, writing for admins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import Field, StrictBool
from sqlalchemy import delete, select

from bot.api.operations import ApiError, Call, Operation, expected_version
from bot.api.schemas import Model, Removed
from bot.core.understanding.faq_file import (
    MAX_ANSWER,
    MAX_QUESTION,
    FaqFileError,
    dump_faq,
    parse_faq,
)
from bot.web.keys import CONVERSATION, SESSION_POOL
from storage.models import FaqEntry, utcnow
from storage.repositories.api import AuditLog
from storage.repositories.faq import FaqRecord, FaqRepository

T = TypeVar("T")

Language = Literal["ru", "en"]
Keywords = list[str]


class FaqEntryOut(Model):
    id: int
    slug: str
    language: Language
    question: str
    answer: str
    keywords: Keywords = Field(description="Other phrasings and search words; not shown")
    helpful: int
    unhelpful: int
    updated_at: str
    version: int = Field(description="Raised by every edit; the ETag is its value in quotes")


class FaqList(Model):
    items: list[FaqEntryOut]


class FaqEntryIn(Model):
    slug: str = Field(pattern=r"^[a-z0-9-]{1,64}$", description="Shared by an entry's languages")
    language: Language
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    answer: str = Field(min_length=1, max_length=MAX_ANSWER)
    keywords: list[str] = Field(default_factory=list, max_length=100)


class FaqEntryPatch(Model):
    """Send with `If-Match: <the ETag of what you read>`; 412 if someone edited it since."""

    question: str | None = Field(default=None, min_length=1, max_length=MAX_QUESTION)
    answer: str | None = Field(default=None, min_length=1, max_length=MAX_ANSWER)
    keywords: list[str] | None = Field(default=None, max_length=100)


class FaqExportQuery(Model):
    format: Literal["json", "yaml"] = "json"


class FaqExport(Model):
    yaml: str = Field(description="The FAQ file, as `otklik faq import` reads it")
    entries: int


class FaqImport(Model):
    yaml: str = Field(min_length=1, description="A FAQ file (see faq.example.yaml)")
    replace: StrictBool = Field(default=False, description="Also delete entries the file lacks")


class FaqImported(Model):
    created: int
    updated: int
    removed: int


def _out(entry: FaqEntry) -> FaqEntryOut:
    return FaqEntryOut(
        id=entry.id,
        slug=entry.slug,
        language=entry.language,  # type: ignore[arg-type]
        question=entry.question,
        answer=entry.answer,
        keywords=[k for k in entry.keywords.splitlines() if k],
        helpful=entry.helpful_count,
        unhelpful=entry.unhelpful_count,
        updated_at=entry.updated_at.isoformat(),
        version=entry.version,
    )


def _keywords(words: list[str]) -> str:
    return "\n".join(w.strip() for w in words if w.strip())


async def list_faq(call: Call) -> FaqList:
    async with call.request.app[SESSION_POOL]() as session:
        return FaqList(items=[_out(e) for e in await FaqRepository(session).all()])


async def show_faq_entry(call: Call) -> FaqEntryOut:
    async with call.request.app[SESSION_POOL]() as session:
        entry = await FaqRepository(session).get(call.ids["entry_id"])
        if entry is None:
            raise ApiError(404, "no such FAQ entry")
        call.headers["ETag"] = f'"{entry.version}"'
        return _out(entry)


async def create_faq_entry(call: Call) -> FaqEntryOut:
    body: FaqEntryIn = call.body
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        taken = await session.execute(
            select(FaqEntry.id).where(
                FaqEntry.slug == body.slug, FaqEntry.language == body.language
            )
        )
        if taken.first() is not None:
            raise ApiError(409, f"{body.slug!r} already has a {body.language} version", "slug")
        entry = FaqEntry(
            slug=body.slug,
            language=body.language,
            question=body.question.strip(),
            answer=body.answer.strip(),
            keywords=_keywords(body.keywords),
            helpful_count=0,
            unhelpful_count=0,
            updated_at=utcnow(),
            version=1,
        )
        session.add(entry)
        await session.flush()
        AuditLog(session).add(call.caller.actor, "faq.create", f"faq:{entry.id}")
        call.headers["ETag"] = '"1"'
        return _out(entry)


async def update_faq_entry(call: Call) -> FaqEntryOut:
    patch: FaqEntryPatch = call.body
    expected = expected_version(call, "FAQ entry")
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        faq = FaqRepository(session)
        if not await faq.claim_version(call.ids["entry_id"], expected):
            current = await faq.get(call.ids["entry_id"])
            if current is None:
                raise ApiError(404, "no such FAQ entry")
            call.headers["ETag"] = f'"{current.version}"'
            raise ApiError(412, "the entry was edited since you read it: GET it again")
        entry = await faq.get(call.ids["entry_id"])
        assert entry is not None
        await session.refresh(entry)
        if patch.question is not None:
            entry.question = patch.question.strip()
        if patch.answer is not None:
            entry.answer = patch.answer.strip()
        if patch.keywords is not None:
            entry.keywords = _keywords(patch.keywords)
        AuditLog(session).add(
            call.caller.actor,
            "faq.update",
            f"faq:{entry.id}",
            {"fields": sorted(patch.model_dump(exclude_none=True))},
        )
        call.headers["ETag"] = f'"{entry.version}"'
        return _out(entry)


async def delete_faq_entry(call: Call) -> Removed:
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        result = await session.execute(delete(FaqEntry).where(FaqEntry.id == call.ids["entry_id"]))
        if not getattr(result, "rowcount", 0):
            raise ApiError(404, "no such FAQ entry")
        AuditLog(session).add(call.caller.actor, "faq.delete", f"faq:{call.ids['entry_id']}")
    return Removed(id=call.ids["entry_id"], removed=True)


async def export_faq(call: Call) -> FaqExport | web.Response:
    query: FaqExportQuery = call.query
    async with call.request.app[SESSION_POOL]() as session:
        records = [
            FaqRecord(e.slug, e.language, e.question, e.answer, tuple(e.keywords.splitlines()))
            for e in await FaqRepository(session).all()
        ]
    text = dump_faq(records)
    if query.format == "yaml":
        return web.Response(
            text=text,
            content_type="application/yaml",
            headers={"Content-Disposition": 'attachment; filename="faq.yaml"'},
        )
    return FaqExport(yaml=text, entries=len(records))


async def import_faq(call: Call) -> FaqImported:
    body: FaqImport = call.body
    try:
        records = parse_faq(body.yaml, "yaml")
    except FaqFileError as exc:
        raise ApiError(422, f"body field 'yaml': {exc}", "yaml") from None
    async with call.request.app[SESSION_POOL]() as session, session.begin():
        faq = FaqRepository(session)
        before = len(await faq.all())
        created, updated = await faq.upsert(records, replace=body.replace)
        removed = before + created - len(await faq.all())
        AuditLog(session).add(
            call.caller.actor,
            "faq.import",
            "faq",
            {"created": created, "updated": updated, "removed": removed},
        )
    return FaqImported(created=created, updated=updated, removed=removed)


def _changes_faq(handler: Callable[[Call], Awaitable[T]]) -> Callable[[Call], Awaitable[T]]:
    """After the write commits, this process's FAQ index is rebuilt at the next question
    (other processes notice within their refresh interval)."""

    async def changed(call: Call) -> T:
        result = await handler(call)
        call.request.app[CONVERSATION].faq.invalidate()
        return result

    changed.__name__ = handler.__name__  # the OpenAPI operationId
    return changed


ADMIN = ("admin",)
OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/faq/export",
        "The whole FAQ in the YAML format `otklik faq import` reads (format=yaml: the file)",
        export_faq,
        FaqExport,
        query=FaqExportQuery,
        alternate="application/yaml",
    ),
    Operation(
        "POST",
        "/api/v1/faq/import",
        "Add and update entries from a FAQ file; replace=true also deletes the ones it lacks",
        _changes_faq(import_faq),
        FaqImported,
        roles=ADMIN,
        body=FaqImport,
        errors=(400, 413),
        max_body=1024 * 1024,
    ),
    Operation("GET", "/api/v1/faq", "Every FAQ entry, by slug and language", list_faq, FaqList),
    Operation(
        "POST",
        "/api/v1/faq",
        "A new entry, or a new language of an entry (same slug)",
        _changes_faq(create_faq_entry),
        FaqEntryOut,
        roles=ADMIN,
        body=FaqEntryIn,
        status=201,
        errors=(400, 409, 413),
    ),
    Operation(
        "GET",
        "/api/v1/faq/{entry_id}",
        "One entry; its ETag goes in If-Match when you edit it",
        show_faq_entry,
        FaqEntryOut,
        errors=(404,),
    ),
    Operation(
        "PATCH",
        "/api/v1/faq/{entry_id}",
        "Edit the question, answer or keywords; needs If-Match (the ETag)",
        _changes_faq(update_faq_entry),
        FaqEntryOut,
        roles=ADMIN,
        body=FaqEntryPatch,
        errors=(400, 404, 412, 413, 428),
        if_match=True,
    ),
    Operation(
        "DELETE",
        "/api/v1/faq/{entry_id}",
        "Delete one language version of an entry",
        _changes_faq(delete_faq_entry),
        Removed,
        roles=ADMIN,
        errors=(404,),
    ),
]
