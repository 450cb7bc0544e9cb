"""The console's people: staff accounts for the web inbox (add, disable), API tokens
(create, shown once; revoke, refused at once) and customers imported from CSV. The same rules
as `otklik staff`, `otklik token` and `otklik customers import`; every change goes in the
audit log."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import customer_import
from bot.core.texts import plural, t
from bot.core.untrusted import parse_id
from bot.inbox import auth
from bot.inbox.pages import page, routes, see_other, signed_in_only
from bot.inbox.texts import language_of
from bot.web.keys import HOURS, SESSION_POOL, SETTINGS
from bot.web.passwords import LOGIN, hash_password, password_problem
from storage.models import ApiToken, StaffAccount, utcnow
from storage.repositories.api import TOKEN_NAME, AuditLog, TokenRepository
from storage.repositories.staff_accounts import AccountRepository, SessionRepository

ROLES = ("agent", "admin")


Forms = tuple[str, str, str] | tuple[str, str]
TOKEN_FORMS: dict[str, Forms] = {"ru": ("токен", "токена", "токенов"), "en": ("token", "tokens")}
CUSTOMER_FORMS: dict[str, Forms] = {
    "ru": ("клиент", "клиента", "клиентов"),
    "en": ("customer", "customers"),
}


def _say(request: web.Request, key: str, **values: object) -> str:
    return t(key, language_of(request), **values)


def _back(**query: str) -> web.HTTPSeeOther:
    return see_other("/admin/people" + (f"?{urlencode(query)}" if query else ""))


async def _people(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    async with request.app[SESSION_POOL]() as session:
        return await _render(request, signed, session, made_token="")


async def _render(
    request: web.Request, signed: auth.Signed, session: AsyncSession, made_token: str
) -> web.Response:
    error = request.query.get("error", "")[:300]
    return page(
        request,
        "admin_people.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "zone": request.app[HOURS].zone,
            "accounts": await AccountRepository(session).all(),
            "tokens": await TokenRepository(session).all(),
            "made_token": made_token,
            "flash": "" if made_token else error or request.query.get("done", "")[:300],
            "flash_error": bool(error) and not made_token,
        },
    )


async def _add_account(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    form = await request.post()
    login = str(form.get("login", "")).strip().lower()
    name = str(form.get("name", "")).strip()[:128]
    role = str(form.get("role", ""))
    password = str(form.get("password", ""))
    if not LOGIN.fullmatch(login) or not name or role not in ROLES:
        raise _back(error=_say(request, "people_bad_login"))
    problem = password_problem(password, login=login, name=name, language=language_of(request))
    if problem is not None:
        raise _back(error=_say(request, "people_bad_password", problem=problem))
    password_hash = await asyncio.to_thread(hash_password, password)  # argon2: ~50 ms of CPU
    async with request.app[SESSION_POOL]() as session, session.begin():
        accounts = AccountRepository(session)
        if await accounts.by_login(login) is not None:
            raise _back(error=_say(request, "people_login_taken", login=login))
        await accounts.add(login, name, role, password_hash, utcnow())
        AuditLog(session).add(
            f"staff:{signed.login}", "staff.add", f"staff:{login}", {"role": role}
        )
    raise _back(done=_say(request, "people_added", login=login))


async def _disable_account(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    account_id = parse_id(request.match_info["account_id"])
    async with request.app[SESSION_POOL]() as session, session.begin():
        found = await session.get(StaffAccount, account_id) if account_id else None
        if found is None:
            raise web.HTTPNotFound(text="no such account")
        if found.login == signed.login:
            raise _back(error=_say(request, "people_not_yourself"))
        found.disabled_at = found.disabled_at or utcnow()
        await SessionRepository(session).end_all(found.id)
        revoked = await TokenRepository(session).revoke_owned(found.id, utcnow())
        AuditLog(session).add(f"staff:{signed.login}", "staff.disable", f"staff:{found.login}")
        login = found.login
    raise _back(
        done=_say(
            request,
            "people_disabled",
            login=login,
            tokens=plural(revoked, language_of(request), TOKEN_FORMS[language_of(request)]),
        )
    )


async def _create_token(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    role = str(form.get("role", ""))
    if not TOKEN_NAME.fullmatch(name) or role not in ROLES:
        raise _back(error=_say(request, "people_bad_token_name"))
    async with request.app[SESSION_POOL]() as session, session.begin():
        tokens = TokenRepository(session)
        if await tokens.named(name) is not None:
            raise _back(error=_say(request, "people_token_taken", name=name))
        _, token = await tokens.create(name, role, owner_id=signed.account_id)
        AuditLog(session).add(f"staff:{signed.login}", "token.create", f"token:{name}")
        # Shown on this one answer and never again: not in a redirect's URL, not stored.
        return await _render(request, signed, session, made_token=token)


async def _revoke_token(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    token_id = parse_id(request.match_info["token_id"])
    async with request.app[SESSION_POOL]() as session, session.begin():
        found = await session.get(ApiToken, token_id) if token_id else None
        if found is None:
            raise web.HTTPNotFound(text="no such token")
        if found.revoked_at is None:
            found.revoked_at = utcnow()
            AuditLog(session).add(f"staff:{signed.login}", "token.revoke", f"token:{found.name}")
        name = found.name
    raise _back(done=_say(request, "people_revoked", name=name))


async def _import_customers(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    """Customers pasted as CSV, as `otklik customers import`: every bad row is named by its
    line, and nothing is imported while there are any unless the box is ticked."""
    form = await request.post()
    rows, bad = customer_import.parse(
        str(form.get("csv", "")), request.app[SETTINGS].bot.default_language
    )
    if bad and not (form.get("skip_bad") and rows):
        language = language_of(request)
        listed = "; ".join(
            t("import_line", language, line=row.line, reason=row.said(language)) for row in bad[:5]
        )
        more = t("import_more", language, n=len(bad) - 5) if len(bad) > 5 else ""
        raise _back(error=_say(request, "import_refused", bad=len(bad), listed=listed, more=more))
    async with request.app[SESSION_POOL]() as session, session.begin():
        result = await customer_import.apply(session, rows)
        detail = {"created": result.created, "updated": result.updated, "bad": len(bad)}
        AuditLog(session).add(f"staff:{signed.login}", "customer.import", "csv", detail)
    consented = sum(row.consent for row in rows)
    language = language_of(request)
    raise _back(
        done=_say(
            request,
            "people_imported",
            added=plural(result.created, language, CUSTOMER_FORMS[language]),
            updated=result.updated,
            skipped=len(bad),
            consented=consented,
        )
    )


routes.get("/admin/people")(signed_in_only(_people, role="admin"))
routes.post("/admin/people/customers")(signed_in_only(_import_customers, role="admin"))
routes.post("/admin/people/accounts")(signed_in_only(_add_account, role="admin"))
routes.post("/admin/people/accounts/{account_id}/disable")(
    signed_in_only(_disable_account, role="admin")
)
routes.post("/admin/people/tokens")(signed_in_only(_create_token, role="admin"))
routes.post("/admin/people/tokens/{token_id}/revoke")(signed_in_only(_revoke_token, role="admin"))
