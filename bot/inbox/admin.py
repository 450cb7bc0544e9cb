"""The admin console at /admin, for accounts with the admin role. The FAQ editor: entries,
edits that cannot overwrite someone else's unseen, and a "try a question" box that shows the
matcher's ranking with the scores and what the bot would do with each."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import untrusted
from bot.core.texts import words
from bot.core.understanding.faq_file import NEW_SLUG
from bot.core.untrusted import parse_id
from bot.inbox import auth
from bot.inbox.pages import page, routes, see_other, signed_in_only
from bot.inbox.texts import language_of
from bot.web.keys import CONVERSATION, SESSION_POOL, SETTINGS
from storage.models import FaqEntry, utcnow
from storage.repositories.api import AuditLog
from storage.repositories.faq import FaqRepository


def _version(entry: FaqEntry) -> str:
    return str(entry.version)


async def _faq(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    tried = request.query.get("try", "").strip()[:600]
    config = request.app[SETTINGS].faq
    async with request.app[SESSION_POOL]() as session:
        entries = (
            (await session.execute(select(FaqEntry).order_by(FaqEntry.slug, FaqEntry.language)))
            .scalars()
            .all()
        )
    ranking = []
    method = ""
    if tried:
        async with request.app[SESSION_POOL]() as session:
            matcher = await request.app[CONVERSATION].faq.matcher(session)
            result = await matcher.rank(tried, None, limit=10)
        method = result.method
        suggested = result.suggestions[: config.max_suggestions]
        for rank, ranked in enumerate(result.entries):
            if rank == 0 and result.confident:
                verdict = "confident"
            elif ranked in suggested:
                verdict = "suggested"
            else:
                verdict = "none"
            ranking.append(
                {
                    "entry_id": ranked.entry_id,
                    "question": ranked.question,
                    "score": ranked.score,
                    "lexical": ranked.lexical,
                    "dense": ranked.dense,
                    "verdict": verdict,
                }
            )
    flash = request.query.get("done", "")
    language = words(language_of(request))
    return page(
        request,
        "admin_faq.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "entries": entries,
            "tried": tried,
            "ranking": ranking,
            "method": method,
            "prefill": request.query.get("question", "").strip()[:500],
            "flash": language.get(flash, "") if flash in ("saved", "bad_entry", "exists") else "",
            "flash_error": flash in ("bad_entry", "exists"),
        },
    )


async def _entry(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    language = words(language_of(request))
    if entry_id == "new" and request.method == "POST":
        async with request.app[SESSION_POOL]() as session, session.begin():
            location = await _create(request, signed, session)
        request.app[CONVERSATION].faq.invalidate()
        raise see_other(location)  # after commit: raising inside would roll it back
    saved: int | None = None
    async with request.app[SESSION_POOL]() as session, session.begin():
        wanted = untrusted.parse_id(entry_id)  # "²" is a digit to str.isdigit, not to int()
        found = await session.get(FaqEntry, wanted) if wanted is not None else None
        if found is None:
            raise web.HTTPNotFound(text="no such entry")
        entry: FaqEntry = found
        flash, error = "", False
        if request.method == "POST":
            form = await request.post()
            question = str(form.get("question", "")).strip()[:500]
            answer = str(form.get("answer", "")).strip()[:4000]
            keywords = str(form.get("keywords", "")).strip()[:4000]
            given = parse_id(str(form.get("version", "")))
            if not question or not answer:
                flash, error = language["bad_entry"], True
            elif given is None or not await FaqRepository(session).claim_version(entry.id, given):
                flash, error = language["conflict"], True
            else:
                await session.refresh(entry)
                entry.question, entry.answer = question, answer
                entry.keywords = "\n".join(k.strip() for k in keywords.splitlines() if k.strip())
                AuditLog(session).add(f"staff:{signed.login}", "faq.update", f"faq:{entry.id}")
                saved = entry.id
        if saved is None and request.query.get("done") == "saved":
            flash = language["saved"]
        response = page(
            request,
            "admin_faq_edit.html",
            {
                "account": signed,
                "csrf": signed.csrf,
                "entry": entry,
                "version": _version(entry),
                "flash": flash,
                "flash_error": error,
            },
        )
        if error:
            response.set_status(409)
    if saved is not None:
        request.app[CONVERSATION].faq.invalidate()
        raise see_other(f"/admin/faq/{saved}?done=saved")
    return response


async def _create(request: web.Request, signed: auth.Signed, session: AsyncSession) -> str:
    """Where to go next: the new entry, or the list with what was wrong."""
    form = await request.post()
    slug = str(form.get("slug", "")).strip().lower()
    language = str(form.get("language", ""))
    question = str(form.get("question", "")).strip()[:500]
    answer = str(form.get("answer", "")).strip()[:4000]
    keywords = str(form.get("keywords", "")).strip()[:4000]
    if not NEW_SLUG.fullmatch(slug) or language not in ("ru", "en") or not question or not answer:
        return "/admin/faq?done=bad_entry"
    exists = await session.execute(
        select(FaqEntry.id).where(FaqEntry.slug == slug, FaqEntry.language == language)
    )
    if exists.first() is not None:
        return "/admin/faq?done=exists"
    entry = FaqEntry(
        slug=slug,
        language=language,
        question=question,
        answer=answer,
        keywords="\n".join(k.strip() for k in keywords.splitlines() if k.strip()),
        helpful_count=0,
        unhelpful_count=0,
        updated_at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    AuditLog(session).add(f"staff:{signed.login}", "faq.create", f"faq:{entry.id}")
    return f"/admin/faq/{entry.id}?done=saved"


async def _home(_request: web.Request, _signed: auth.Signed) -> web.StreamResponse:
    raise see_other("/admin/faq")


routes.get("/admin")(signed_in_only(_home, role="admin"))
routes.get("/admin/faq")(signed_in_only(_faq, role="admin"))
routes.get("/admin/faq/{entry_id}")(signed_in_only(_entry, role="admin"))
routes.post("/admin/faq/{entry_id}")(signed_in_only(_entry, role="admin"))
