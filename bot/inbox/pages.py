"""The web inbox: sign-in, the ticket queue with filters, a ticket with the customer's whole
history across channels, and the same actions as the Telegram staff group (reply, note, take,
priority, resolve, reopen), through the same ticket service and the outbox. Server-rendered;
every customer string is escaped by the templates."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import and_, func, or_, select

from bot.config import PRIORITIES
from bot.core.delivery.outbox import ReplyBuffer
from bot.core.texts import channel_word, words
from bot.core.tickets.labels import parse_labels
from bot.core.tickets.service import STAFF, Effects, TicketRefused
from bot.core.untrusted import parse_id
from bot.inbox import auth
from bot.inbox.events import event_text
from bot.inbox.texts import language_of
from bot.web import two_factor
from bot.web.files import download
from bot.web.flood import RequestLimiter, client_address, retry_after
from bot.web.keys import (
    ENGINE,
    HOURS,
    INBOX_LIVE,
    OUTBOX,
    SESSION_POOL,
    SETTINGS,
    SIGN_IN_LIMITER,
    TICKETS,
)
from storage.db import contains_folded
from storage.models import (
    ConversationMessage,
    Customer,
    CustomerMerge,
    StaffAccount,
    SurveyResponse,
    Ticket,
    TicketLabel,
    TicketMessage,
    utcnow,
)
from storage.repositories.api import AuditLog
from storage.repositories.customers import CustomerRepository
from storage.repositories.files import file_with_bytes, files_of
from storage.repositories.staff_accounts import AccountRepository, SessionRepository
from storage.repositories.tickets import OPEN_STATUSES, CannedRepository, TicketRepository

routes = web.RouteTableDef()
# ?done= after an action -> the text that confirms it (or says why nothing happened)
DONE = {
    "sent": "sent",
    "no_channel": "no_channel",
    "empty": "empty",
    "merged": "merged",
    "not_merged": "not_merged",
    "via": "via_saved",
    "via_unknown": "via_unknown",
    "noted": "done_noted",
    "taken": "done_taken",
    "assigned": "done_assigned",
    "not_assigned": "done_not_assigned",
    "resolved": "done_resolved",
    "reopened": "done_reopened",
    "priority_set": "done_priority",
    "labelled": "done_labels",
}
FLASH_ERRORS = ("no_channel", "empty", "not_merged", "via_unknown", "done_not_assigned")
QUEUE_PAGE = 100
VIEWS = ("all_open", "mine", "unassigned", "urgent", "overdue", "resolved")
CHANNELS = ("telegram", "webchat", "whatsapp", "vk")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    language = language_of(request)
    defaults = {
        "account": None,
        "csrf": "",
        "flash": "",
        "flash_error": False,
        "path": request.path,
    }
    response = aiohttp_jinja2.render_template(
        template, request, {**defaults, "lang": language, "t": words(language), **context}
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location, headers=SECURITY_HEADERS)


Page = Callable[[web.Request, auth.Signed], Awaitable[web.StreamResponse]]


def signed_in_only(
    view: Page, role: str | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Only for a signed-in account (with `role`, when given); a POST must carry the CSRF
    token of the session."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        signed = await auth.signed_in(request)
        if signed is None:
            raise see_other(f"/inbox/login?next={quote(request.path_qs, safe='')}")
        if role is not None and signed.role != role:
            refused = page(request, "refused.html", {"account": signed, "csrf": signed.csrf})
            refused.set_status(403)
            return refused
        if role == "admin" and not signed.two_factor and request.app[SETTINGS].api.admin_two_factor:
            raise see_other(f"/inbox/two-factor?next={quote(request.path_qs, safe='')}")
        if request.method == "POST":
            form = await request.post()
            if not auth.csrf_ok(signed, str(form.get("csrf", ""))):
                return web.Response(status=403, text="CSRF check failed: reload the page")
        return await view(request, signed)

    return guarded


_STATIC = {
    "inbox.css": "text/css",
    "live.js": "text/javascript",
    "keys.js": "text/javascript",
    "progress.js": "text/javascript",
}


@routes.get("/inbox/static/{name}")
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC:
        raise web.HTTPNotFound(text="no such file")
    text = resources.files("bot.inbox").joinpath(f"static/{name}").read_text(encoding="utf-8")
    return web.Response(
        text=text, content_type=_STATIC[name], headers={"Cache-Control": "max-age=3600"}
    )


@routes.get("/inbox/login")
async def login_form(request: web.Request) -> web.Response:
    return page(request, "login.html", {"login": "", "next": safe_next(request.query.get("next"))})


def safe_next(value: str | None) -> str:
    """Only a path inside the inbox: never another site."""
    if value and value.startswith(("/inbox", "/admin")) and not value.startswith("//"):
        return value[:512]
    return "/inbox"


@routes.post("/inbox/login")
async def login(request: web.Request) -> web.StreamResponse:
    if not auth.same_site(request):
        return web.Response(status=403, text="sign in from the bot's own sign-in page")
    settings = request.app[SETTINGS].api
    limiter: RequestLimiter = request.app[SIGN_IN_LIMITER]
    wait = limiter.take(client_address(request, settings.trust_forwarded_for))
    form = await request.post()
    login_name = str(form.get("login", ""))[:64].strip()
    context = {"login": login_name, "next": safe_next(str(form.get("next", "")))}
    if wait > 0:
        language = words(language_of(request))
        response = page(
            request, "login.html", {**context, "flash": language["too_many"], "flash_error": True}
        )
        response.set_status(429)
        response.headers["Retry-After"] = retry_after(wait)
        return response
    password = str(form.get("password", ""))[:1024]
    code = str(form.get("code", ""))[:32]
    now = utcnow()
    async with request.app[SESSION_POOL]() as session:
        account = await AccountRepository(session).by_login(login_name) if login_name else None
    if account is not None and account.disabled_at is not None:
        account = None
    language = words(language_of(request))
    if account is not None and (left := AccountRepository.locked(account, now)) is not None:
        minutes = max(1, -(-int(left.total_seconds()) // 60))
        flash = language["locked"].format(minutes=minutes)
        response = page(request, "login.html", {**context, "flash": flash, "flash_error": True})
        response.set_status(429)
        response.headers["Retry-After"] = str(int(left.total_seconds()) + 1)
        return response
    # Checked outside any transaction: on SQLite a transaction holds the write lock, and the
    # check takes ~125 ms.
    right = await auth.password_matches(account, password)
    step = None
    if account is not None and account.totp_secret is not None:
        step = two_factor.accepted_step(account.totp_secret, code, account.totp_last_step)
        right = right and step is not None
    if right and account is not None:
        async with request.app[SESSION_POOL]() as session, session.begin():
            right = await AccountRepository(session).signed_in(account.id, step)
    if not right or account is None:
        if account is not None:
            await _count_failure(request, account, now)
        response = page(
            request, "login.html", {**context, "flash": language["bad_login"], "flash_error": True}
        )
        response.set_status(401)
        return response
    async with request.app[SESSION_POOL]() as session, session.begin():
        old = request.cookies.get(auth.COOKIE)
        sessions = SessionRepository(session)
        if old:
            await sessions.end(old)  # whatever the browser brought is not carried over
        session_id = await sessions.start(account, now, auth.lifetime(request))
        AuditLog(session).add(f"staff:{account.login}", "inbox.sign_in")
    response = see_other(context["next"])
    auth.set_cookie(request, response, session_id)
    raise response


async def _count_failure(request: web.Request, account: StaffAccount, now: datetime) -> None:
    """A wrong password or code for a real account; enough in a row lock it (audited), so
    guesses spread over many addresses still stop."""
    settings = request.app[SETTINGS].api
    lock = timedelta(minutes=settings.sign_in_lock_minutes)
    async with request.app[SESSION_POOL]() as session, session.begin():
        accounts = AccountRepository(session)
        if await accounts.count_failure(account.id, now, settings.sign_in_failures, lock):
            detail = {"failures": settings.sign_in_failures, "minutes": lock.total_seconds() / 60}
            AuditLog(session).add("inbox", "staff.locked", f"staff:{account.login}", detail)


async def _logout(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    async with request.app[SESSION_POOL]() as session, session.begin():
        await SessionRepository(session).end(request.cookies.get(auth.COOKIE, ""))
    response = see_other("/inbox/login")
    response.del_cookie(auth.COOKIE, path="/")
    raise response


def _zone(request: web.Request) -> Any:
    return request.app[HOURS].zone


def _when(value: datetime | None, zone: Any) -> str:
    return value.astimezone(zone).strftime("%d.%m %H:%M") if value else "—"


def _view_condition(view: str, signed: auth.Signed, now: datetime) -> Any:
    """Which tickets a view of the queue holds."""
    if view == "resolved":
        return Ticket.status.in_(("resolved", "closed"))
    condition = Ticket.status.in_(OPEN_STATUSES)
    if view == "mine":
        return and_(condition, Ticket.assignee_name == signed.name)
    if view == "unassigned":
        return and_(condition, Ticket.assignee_name == "")
    if view == "urgent":
        return and_(condition, or_(Ticket.priority == "urgent", Ticket.priority == "high"))
    if view == "overdue":
        return and_(condition, Ticket.first_response_at.is_(None), Ticket.due_at < now)
    return condition


def _search_condition(query: str, dialect: str) -> Any:
    """A ticket number ("#12" or "12"), or words in the customer's name, the subject or any
    message of the ticket, in any case and script."""
    number = query.lstrip("#")
    if number.isascii() and number.isdigit() and len(number) < 10:
        return Ticket.id == int(number)
    in_messages = (
        select(TicketMessage.id)
        .where(
            TicketMessage.ticket_id == Ticket.id,
            contains_folded(TicketMessage.text, query, dialect),
        )
        .exists()
    )
    return or_(
        contains_folded(Customer.display_name, query, dialect),
        contains_folded(Ticket.subject, query, dialect),
        in_messages,
    )


async def _view_counts(
    session: Any, signed: auth.Signed, now: datetime, narrowing: list[Any], searching: bool
) -> dict[str, int]:
    """How many tickets each view holds, under the same narrowing. Read on every queue load
    and live refresh: the open views are counted among the open tickets only and the resolved
    ones alone, each on the status index (one count over every ticket ever took 0.3 s at
    200,000 tickets); customers are joined only when a search needs their names."""

    def counted(statement: Any) -> Any:
        statement = statement.select_from(Ticket).where(*narrowing)
        if searching:
            statement = statement.join(Customer, Customer.id == Ticket.customer_id)
        return statement

    open_views = [v for v in VIEWS if v != "resolved"]
    open_counts = (
        await session.execute(
            counted(
                select(*(func.count().filter(_view_condition(v, signed, now)) for v in open_views))
            ).where(Ticket.status.in_(OPEN_STATUSES))
        )
    ).one()
    resolved = await session.scalar(
        counted(select(func.count())).where(_view_condition("resolved", signed, now))
    )
    return {**dict(zip(open_views, open_counts, strict=True)), "resolved": int(resolved or 0)}


SORTS = {
    # due first: the one to answer next on top (no due time last), then the oldest
    "due": (Ticket.due_at.is_(None), Ticket.due_at, Ticket.id),
    "last": (Ticket.updated_at.desc(), Ticket.id.desc()),
    "created": (Ticket.id.desc(),),
}


async def _queue(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    view = request.query.get("view", "all_open")
    view = view if view in VIEWS else "all_open"
    channel = request.query.get("channel", "")
    channel = channel if channel in CHANNELS else ""
    sort = request.query.get("sort", "due")
    sort = sort if sort in SORTS else "due"
    query = " ".join(request.query.get("q", "").split())[:100]
    label = (parse_labels(request.query.get("label", "")[:100]) or [""])[0]
    now = utcnow()
    narrowing = []
    if channel:
        narrowing.append(Ticket.channel == channel)
    if label:
        narrowing.append(
            select(TicketLabel.ticket_id)
            .where(TicketLabel.ticket_id == Ticket.id, TicketLabel.label == label)
            .exists()
        )
    if query:
        narrowing.append(_search_condition(query, request.app[ENGINE].dialect.name))
    statement = (
        select(Ticket, Customer.display_name)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(_view_condition(view, signed, now), *narrowing)
    )
    page_number = max(1, min(parse_id(request.query.get("page", "")) or 1, 1000))
    statement = (
        statement.order_by(*SORTS[sort])
        .offset((page_number - 1) * QUEUE_PAGE)
        .limit(QUEUE_PAGE + 1)
    )
    zone = _zone(request)
    async with request.app[SESSION_POOL]() as session:
        found = (await session.execute(statement)).all()
        counts = await _view_counts(session, signed, now, narrowing, searching=bool(query))
        repository = TicketRepository(session)
        labels_of = await repository.labels_of([ticket.id for ticket, _ in found[:QUEUE_PAGE]])
        known_labels = await repository.all_labels()
    more = len(found) > QUEUE_PAGE
    found = found[:QUEUE_PAGE]
    language = language_of(request)
    rows = [
        {
            "ticket": ticket,
            "customer": name or f"#{ticket.customer_id}",
            "channel": channel_word(ticket.channel, language),
            "labels": labels_of.get(ticket.id, []),
            "due": _when(ticket.due_at, zone),
            "overdue": ticket.first_response_at is None
            and ticket.due_at is not None
            and ticket.due_at < now
            and ticket.status in OPEN_STATUSES,
        }
        for ticket, name in found
    ]
    keep = {"view": view, "channel": channel, "sort": sort, "q": query, "label": label}
    return page(
        request,
        "queue.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "tickets": rows,
            "views": VIEWS,
            "view": view,
            "counts": counts,
            "channels": [(c, channel_word(c, language)) for c in CHANNELS],
            "channel": channel,
            "sort": sort,
            "sorts": tuple(SORTS),
            "query": query,
            "label": label,
            "known_labels": known_labels,
            "keep": urlencode({k: v for k, v in keep.items() if k != "view" and v}),
            "older": urlencode({**keep, "page": page_number + 1}) if more else "",
            "flash": "",
        },
    )


async def _ticket_or_404(session: Any, request: web.Request) -> Ticket:
    ticket_id = parse_id(request.match_info["ticket_id"])
    ticket = await TicketRepository(session).get(ticket_id) if ticket_id else None
    if ticket is None:
        raise web.HTTPNotFound(text="no such ticket")
    return ticket


async def _ticket(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    zone = _zone(request)
    async with request.app[SESSION_POOL]() as session:
        ticket = await _ticket_or_404(session, request)
        customer = await session.get(Customer, ticket.customer_id)
        rows = await TicketRepository(session).messages(ticket.id)
        files = await files_of(session, [m.id for m in rows])
        language_code = language_of(request)
        messages = [
            {
                "kind": m.kind,
                "author": m.author,
                "channel": channel_word(m.channel, language_code) if m.channel else "",
                "text": event_text(m.text, language_code)
                if m.kind == "system"
                else m.text or f"[{m.attachment_kind or 'attachment'}]",
                "at": _when(m.created_at, zone),
                "files": [
                    {"id": f.id, "name": f.name, "size": f"{f.size // 1024 + 1} KB"}
                    for f in files.get(m.id, [])
                ],
            }
            for m in rows
        ]
        log = (
            await session.execute(
                select(ConversationMessage)
                .where(ConversationMessage.customer_id == ticket.customer_id)
                .order_by(ConversationMessage.id.desc())
                .limit(100)
            )
        ).scalars()
        history = [
            {
                "direction": m.direction,
                "channel": channel_word(m.channel, language_code),
                "text": m.text,
                "at": _when(m.created_at, zone),
            }
            for m in reversed(list(log))
        ]
        canned = list(await CannedRepository(session).all())
        panel = await _customer_panel(session, ticket.customer_id, zone, language_code)
        repository = TicketRepository(session)
        labels = (await repository.labels_of([ticket.id])).get(ticket.id, [])
        known_labels = await repository.all_labels()
        staff = [a.name for a in await AccountRepository(session).all() if a.disabled_at is None]
        channels = await CustomerRepository(session).channels(ticket.customer_id)
        siblings = (
            await session.execute(
                select(Ticket.id, Ticket.subject)
                .where(
                    Ticket.customer_id == ticket.customer_id,
                    Ticket.id != ticket.id,
                    Ticket.merged_into_id.is_(None),
                )
                .order_by(Ticket.id.desc())
                .limit(20)
            )
        ).all()
    flash = DONE.get(request.query.get("done", ""), "")
    language = words(language_code)
    return page(
        request,
        "ticket.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "ticket": ticket,
            "live_ticket": ticket.id,
            "customer_name": (customer.display_name if customer else "")
            or f"#{ticket.customer_id}",
            "due": _when(ticket.due_at, zone),
            "reply_channel": ticket.reply_channel,
            "reply_channel_word": channel_word(ticket.reply_channel, language_code)
            if ticket.reply_channel
            else "",
            "channel_word": channel_word(ticket.channel, language_code),
            "staff": staff,
            # Inside <script type="application/json">: no "<" may end it early.
            "canned_json": json.dumps(
                [{"name": c.name, "text": c.text} for c in canned], ensure_ascii=False
            ).replace("<", "\\u003c"),
            "messages": messages,
            "history": history,
            "priorities": PRIORITIES,
            "canned": canned,
            "channels": [(c, channel_word(c, language_code)) for c in channels],
            "siblings": siblings,
            "panel": panel,
            "labels": labels,
            "known_labels": known_labels,
            "merged_into": ticket.merged_into_id,
            "flash": language[flash] if flash else "",
            "flash_error": flash in FLASH_ERRORS,
        },
    )


async def _act(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    action = request.match_info["action"]
    form = await request.post()
    text = str(form.get("text", "")).strip()[:4096]
    service = request.app[TICKETS]
    outbox = request.app[OUTBOX]
    done = ""
    async with request.app[SESSION_POOL]() as session, session.begin():
        ticket = await _ticket_or_404(session, request)
        effects = Effects()
        if action == "reply" and not text and form.get("canned"):
            chosen = await CannedRepository(session).get(str(form.get("canned")))
            text = chosen.text if chosen is not None else ""
        if action == "reply":
            if not text:
                done = "empty"
            else:
                effects = await service.staff_reply(session, ticket, signed.name, text, mirror=True)
                reached = any(channel != STAFF for channel, _, _ in effects.posts)
                done = "sent" if reached else "no_channel"
        elif action == "note":
            done = "noted" if text else "empty"
            if text:
                await service.note(session, ticket, signed.name, text)
                effects.staff(ticket, _note_copy(signed.name, text))
        elif action in ("take", "assign"):
            name = signed.name if action == "take" else str(form.get("to", ""))[:128]
            if action == "assign" and not await _is_staff(session, name):
                done = "not_assigned"
            else:
                effects = await service.assign(session, ticket, 0, name)
                ticket.assignee_id = None
                done = "taken" if name == signed.name else "assigned"
        elif action == "labels":
            effects = await service.set_labels(
                session, ticket, parse_labels(str(form.get("labels", ""))[:1000]), signed.name
            )
            done = "labelled"
        elif action == "resolve":
            effects = await service.resolve(session, ticket, signed.name)
            done = "resolved"
        elif action == "reopen":
            effects = await service.reopen(session, ticket, signed.name)
            done = "reopened"
        elif action == "priority":
            priority = str(form.get("priority", ""))
            done = "priority_set" if priority in PRIORITIES else "empty"
            if priority in PRIORITIES:
                effects = await service.set_priority(session, ticket, priority, signed.name)
        elif action == "via":
            channel = str(form.get("channel", ""))[:32]
            try:
                effects = await service.choose_reply_channel(session, ticket, channel, signed.name)
                done = "via"
            except TicketRefused:
                done = "via_unknown"
        elif action == "merge":
            into = parse_id(str(form.get("into", "")))
            target = await TicketRepository(session).get(into) if into else None
            done = "not_merged"
            if target is not None:
                try:
                    effects = await service.merge(session, ticket, target, signed.name)
                    done = "merged"
                except TicketRefused:
                    pass
        else:
            raise web.HTTPNotFound(text="no such action")
        AuditLog(session).add(f"staff:{signed.login}", f"ticket.{action}", f"ticket:{ticket.id}")
        queued = await outbox.enqueue(session, ReplyBuffer(effects.posts))
    await outbox.deliver(queued)
    suffix = f"?done={done}" if done else ""
    if done == "merged":  # go on where the conversation now lives
        raise see_other(f"/inbox/tickets/{ticket.merged_into_id}?done=merged")
    raise see_other(f"/inbox/tickets/{ticket.id}{suffix}")


async def _customer_panel(
    session: Any, customer_id: int, zone: Any, language: str
) -> dict[str, Any]:
    """Who the customer is across channels: their addresses as staff see them, their other
    tickets, their survey answers (anonymous ones are linked to nobody, so never here) and
    the customers merged into them."""
    card = await CustomerRepository(session).card(customer_id)
    answers = (
        await session.execute(
            select(SurveyResponse)
            .where(SurveyResponse.customer_id == customer_id, SurveyResponse.score.is_not(None))
            .order_by(SurveyResponse.id.desc())
            .limit(10)
        )
    ).scalars()
    merges = (
        await session.execute(
            select(CustomerMerge)
            .where(CustomerMerge.target_id == customer_id)
            .order_by(CustomerMerge.id.desc())
            .limit(10)
        )
    ).scalars()
    return {
        "identities": [
            (channel_word(channel, language), shown)
            for channel, shown in (card.identities if card else [])
        ],
        "tickets": card.tickets[::-1][:20] if card else [],
        "answers": [
            {
                "kind": a.kind.upper(),
                "score": a.score,
                "comment": a.comment or "",
                "at": _when(a.created_at, zone),
            }
            for a in answers
        ],
        "merges": [(m.source_id, m.by, _when(m.created_at, zone)) for m in merges],
    }


async def _is_staff(session: Any, name: str) -> bool:
    """An active account of that name: work is assigned to people who can open it."""
    return any(
        a.name == name and a.disabled_at is None for a in await AccountRepository(session).all()
    )


def _note_copy(author: str, text: str) -> Any:
    from bot.core.messages import Reply

    return Reply(f"📝 {text}", title=f"{author} (web inbox)")


routes.get("/inbox")(signed_in_only(_queue))
routes.get("/inbox/tickets/{ticket_id}")(signed_in_only(_ticket))


async def _file(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    file_id = parse_id(request.match_info["file_id"])
    async with request.app[SESSION_POOL]() as session:
        found = await file_with_bytes(session, file_id) if file_id else None
    if found is None:
        raise web.HTTPNotFound(text="no such file")
    row, _ticket_id, data = found
    return download(row.name, data)


routes.get("/inbox/files/{file_id}")(signed_in_only(_file))
routes.post("/inbox/tickets/{ticket_id}/{action}")(signed_in_only(_act))
routes.post("/inbox/logout")(signed_in_only(_logout))


async def _live(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    if not auth.same_site(request):
        raise web.HTTPForbidden(text="another site may not open the inbox's socket")
    return await request.app[INBOX_LIVE].serve(request, request.cookies.get(auth.COOKIE, ""))


routes.get("/inbox/live")(signed_in_only(_live))
