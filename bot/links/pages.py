"""The survey pages under /s/: ask the score, then the follow-up and a comment, then thanks.

No page needs JavaScript. A GET shows and never records: an email's score link opens the page
with that score chosen, and the answer is recorded by a POST (the page's button, or its script
once the page has been visible for a moment; see `static/survey.js`). Each POST answers with a
redirect to the next page (post/redirect/get), so a reload never sends a form again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.campaigns.link_answers import (
    SurveyPage,
    note_view,
    open_page,
    opt_out,
    record_comment,
    record_score,
)
from bot.campaigns.surveys import ANONYMOUS_NOTE, CLOSED, COMMENT_THANKS, pick
from bot.core.delivery.outbox import ReplyBuffer
from bot.core.texts import t
from bot.links.signing_key import link_signer
from bot.links.tokens import LinkSigner, LinkToken, new_nonce
from bot.web.flood import RequestLimiter, client_address, retry_after
from bot.web.keys import CLOCK, OUTBOX, SESSION_POOL, SETTINGS
from storage.models import SurveyResponse

PAGE_KINDS = "scd"  # what a link in a URL may be: a survey, a customer's survey, a delivery
FORM_HOURS = 24  # an opened page may be answered this long
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("bot.links", "templates"),
    autoescape=True,  # the survey's texts are an admin's, the comment a customer's: text only
    undefined=jinja2.StrictUndefined,
)
_STATIC = {
    "survey.css": ("text/css", resources.files("bot.links").joinpath("static/survey.css")),
    "survey.js": ("text/javascript", resources.files("bot.links").joinpath("static/survey.js")),
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never sent to another site
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
TOKEN = r"{token:[scd]\.[0-9A-Za-z._-]{1,150}}"


class LinkPages:
    """The pages' dependencies: the signing key (read from SQL once, on first use) and the
    per-client limit."""

    def __init__(self, limiter: RequestLimiter) -> None:
        self.limiter = limiter
        self._signer: LinkSigner | None = None
        self._lock = asyncio.Lock()

    async def signer(self, app: web.Application) -> LinkSigner:
        async with self._lock:
            if self._signer is None:
                self._signer = await link_signer(app[SESSION_POOL], app[SETTINGS].links)
        return self._signer


LINK_PAGES = web.AppKey("link_pages", LinkPages)


def setup(app: web.Application) -> None:
    config = app[SETTINGS].links
    app[LINK_PAGES] = LinkPages(RequestLimiter(config.requests_per_minute, config.burst))
    app.router.add_get("/s/survey.css", _static)
    app.router.add_get("/s/survey.js", _static)
    app.router.add_get(f"/s/{TOKEN}", show)
    app.router.add_post(f"/s/{TOKEN}", answer)
    app.router.add_get(f"/s/{TOKEN}/comment", comment_page)
    app.router.add_post(f"/s/{TOKEN}/comment", comment)
    app.router.add_get(f"/s/{TOKEN}/thanks", thanks)
    app.router.add_get(f"/s/{TOKEN}/unsubscribe", unsubscribe_page)
    app.router.add_post(f"/s/{TOKEN}/unsubscribe", unsubscribe)


async def _static(request: web.Request) -> web.Response:
    content_type, path = _STATIC[request.path.rsplit("/", 1)[-1]]
    return web.Response(
        text=path.read_text(encoding="utf-8"),
        content_type=content_type,
        headers={"Cache-Control": "public, max-age=3600"},
    )


def _language(request: web.Request, page: SurveyPage | None) -> str:
    known = page.language if page is not None else None
    if known in ("ru", "en"):
        return known
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("ru", "en"):
            return code
    return request.app[SETTINGS].bot.default_language


def _render(
    request: web.Request, status: int, language: str, state: str, **context: Any
) -> web.Response:
    defaults = {"lang": language, "t": lambda key, **v: t(key, language, **v), "state": state}
    html = _TEMPLATES.get_template("survey.html").render(**defaults, **context)
    return web.Response(status=status, text=html, content_type="text/html", headers=HEADERS)


def _say(request: web.Request, status: int, language: str, key: str) -> web.Response:
    return _render(request, status, language, "problem", message=t(key, language))


def _problem(request: web.Request, status: int, key: str, **values: Any) -> web.Response:
    language = _language(request, None)
    return _render(request, status, language, "problem", message=t(key, language, **values))


def _too_many(request: web.Request) -> web.Response | None:
    pages = request.app[LINK_PAGES]
    settings = request.app[SETTINGS]
    wait = pages.limiter.take(client_address(request, settings.webchat.trust_forwarded_for))
    if not wait:
        return None
    response = _problem(request, 429, "survey_too_many", seconds=retry_after(wait))
    response.headers["Retry-After"] = retry_after(wait)
    return response


async def _opened(request: web.Request) -> tuple[LinkSigner, LinkToken, SurveyPage] | web.Response:
    """The link's token read and its page loaded; or the page that says why not."""
    refused = _too_many(request)
    if refused is not None:
        return refused
    signer = await request.app[LINK_PAGES].signer(request.app)
    now = request.app[CLOCK]()
    token = signer.read(request.match_info["token"], now, PAGE_KINDS)
    if token is None:
        return _problem(request, 404, "survey_bad_link")
    async with request.app[SESSION_POOL]() as session:
        page = await open_page(session, token.kind, token.ids, now)
        if page is None:
            return _problem(request, 404, "survey_bad_link")
        # Loaded whole: the page is rendered after the session closes.
        session.expunge_all()
    return signer, token, page


def _score_of(page: SurveyPage, raw: str | None) -> int | None:
    """`raw` as one of the page's answers (digits only, on its scale), else None."""
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 3:
        return None
    value = int(raw)
    return value if value in {v for v, _ in page.scale()} else None


async def _answerable(
    request: web.Request,
) -> tuple[LinkSigner, LinkToken, SurveyPage, str] | web.Response:
    """As `_opened`, with the page's language, and a 410 page once the survey has closed."""
    opened = await _opened(request)
    if isinstance(opened, web.Response):
        return opened
    signer, token, page = opened
    language = _language(request, page)
    if page.closed:
        return _render(request, 410, language, "problem", message=pick(CLOSED, language))
    return signer, token, page, language


async def show(request: web.Request) -> web.Response:
    """The question. A score in the query (an email's score link) is shown chosen, never
    recorded; a delivery's page notes which link was opened (scanners open them all)."""
    found = await _answerable(request)
    if isinstance(found, web.Response):
        return found
    signer, _token, page, language = found
    chosen = _score_of(page, request.query.get("score"))
    now = request.app[CLOCK]()
    if page.delivery is not None:
        async with request.app[SESSION_POOL]() as session, session.begin():
            await note_view(session, page, chosen, now)
    form = signer.sign("f", (page.survey.id, new_nonce()), now + timedelta(hours=FORM_HOURS))
    return _render(
        request,
        200,
        language,
        "ask",
        question=page.question(language),
        anonymous=pick(ANONYMOUS_NOTE, language) if page.survey.anonymous else "",
        scale=page.scale(),
        wide=page.survey.kind == "custom",
        chosen=chosen,
        form=form,
        action=request.path,
    )


async def answer(request: web.Request) -> web.StreamResponse:
    """Record the score (the last one wins), then on to the follow-up."""
    found = await _answerable(request)
    if isinstance(found, web.Response):
        return found
    signer, token, page, language = found
    data = await request.post()
    now = request.app[CLOCK]()
    form = signer.read(str(data.get("form", "")), now, "f")
    score = _score_of(page, _field(data, "score"))
    if form is None or form.ids[0] != page.survey.id:
        return _say(request, 400, language, "survey_stale_form")
    if score is None:
        return _say(request, 400, language, "survey_pick")
    config = request.app[SETTINGS].links
    try:
        async with request.app[SESSION_POOL]() as session, session.begin():
            page = await open_page(session, token.kind, token.ids, now) or page
            recorded = await record_score(session, page, score, str(form.ids[1]), now, config)
            outbox = request.app[OUTBOX]
            queued = await outbox.enqueue(session, ReplyBuffer(list(recorded.effects.posts)))
            response_id = recorded.response.id
    except IntegrityError:  # the same form, twice at once: the first one counts
        return _say(request, 409, language, "survey_twice")
    if queued:
        await outbox.deliver(queued)
    step = signer.sign("r", (response_id,), now + timedelta(hours=FORM_HOURS))
    raise web.HTTPSeeOther(f"{request.path}/comment?r={step}", headers=HEADERS)


def _field(data: Any, name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


async def _step(
    request: web.Request, r: str | None
) -> tuple[SurveyPage, SurveyResponse, str, str] | web.Response:
    """The comment step's page and answer (read once), from the link and its `r` token."""
    opened = await _opened(request)
    if isinstance(opened, web.Response):
        return opened
    signer, _token, page = opened
    language = _language(request, page)
    step = signer.read(r or "", request.app[CLOCK](), "r")
    if step is None:
        return _say(request, 400, language, "survey_stale_form")
    async with request.app[SESSION_POOL]() as session:
        response = await session.get(SurveyResponse, step.ids[0])
    if response is None or response.survey_id != page.survey.id or response.score is None:
        return _say(request, 404, language, "survey_bad_link")
    return page, response, language, r or ""


async def comment_page(request: web.Request) -> web.Response:
    found = await _step(request, request.query.get("r"))
    if isinstance(found, web.Response):
        return found
    page, response, language, r = found
    assert response.score is not None
    score = response.score
    return _render(
        request,
        200,
        language,
        "comment",
        followup=page.followup(language, score),
        segment=page.segment(score),
        r=r,
        action=request.path,
        limit=4000,
    )


async def comment(request: web.Request) -> web.StreamResponse:
    """The comment, once: a replayed form records nothing."""
    data = await request.post()
    found = await _step(request, _field(data, "r"))
    if isinstance(found, web.Response):
        return found
    page, response, language, _r = found
    text = _field(data, "comment") or ""
    async with request.app[SESSION_POOL]() as session, session.begin():
        taken = await record_comment(session, page, response.id, text, request.app[CLOCK]())
    if not taken:
        return _render(
            request, 409, language, "problem", message=t("survey_comment_done", language)
        )
    raise web.HTTPSeeOther(request.path.removesuffix("/comment") + "/thanks", headers=HEADERS)


async def thanks(request: web.Request) -> web.Response:
    opened = await _opened(request)
    if isinstance(opened, web.Response):
        return opened
    _signer, _token, page = opened
    language = _language(request, page)
    return _render(request, 200, language, "thanks", message=pick(COMMENT_THANKS, language))


async def unsubscribe_page(request: web.Request) -> web.Response:
    """Asks, and changes nothing: a scanner following the link unsubscribes nobody."""
    opened = await _opened(request)
    if isinstance(opened, web.Response):
        return opened
    _signer, _token, page = opened
    language = _language(request, page)
    if page.customer is None:
        return _say(request, 404, language, "survey_bad_link")
    return _render(request, 200, language, "unsubscribe", action=request.path)


async def unsubscribe(request: web.Request) -> web.Response:
    """The confirm button, or a mail client's one-click POST (RFC 8058): no more surveys for
    this customer, on any channel."""
    opened = await _opened(request)
    if isinstance(opened, web.Response):
        return opened
    _signer, _token, page = opened
    language = _language(request, page)
    if page.customer is None:
        return _say(request, 404, language, "survey_bad_link")
    async with request.app[SESSION_POOL]() as session, session.begin():
        await opt_out(session, page.customer.id)
    return _say(request, 200, language, "survey_unsubscribed")
