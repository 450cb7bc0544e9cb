"""/inbox/two-factor: set up the second factor (a QR code for an authenticator app, then one
code from it to show it works). Admins are sent here before the console when `[api]
admin_two_factor` is on; agents may come of their own accord."""

from __future__ import annotations

from aiohttp import web
from markupsafe import Markup

from bot.core.texts import words
from bot.inbox import auth
from bot.inbox.pages import page, routes, safe_next, see_other, signed_in_only
from bot.inbox.texts import language_of
from bot.web import two_factor
from bot.web.keys import SESSION_POOL
from storage.models import StaffAccount
from storage.repositories.api import AuditLog


def _enrol_page(
    request: web.Request, signed: auth.Signed, secret: str, next_path: str, error: str = ""
) -> web.Response:
    uri = two_factor.enrol_uri(secret, signed.login)
    context = {
        "account": signed,
        "csrf": signed.csrf,
        "secret": secret,
        "qr": Markup(two_factor.qr_svg(uri)),  # our own SVG: no customer text in it
        "next": next_path,
        "flash": error,
        "flash_error": bool(error),
        "enrolled": False,
    }
    response = page(request, "two_factor.html", context)
    if error:
        response.set_status(422)
    return response


async def _show(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    next_path = safe_next(request.query.get("next"))
    if signed.two_factor:
        context = {"account": signed, "csrf": signed.csrf, "enrolled": True, "next": next_path}
        return page(request, "two_factor.html", {**context, "secret": "", "qr": ""})
    return _enrol_page(request, signed, two_factor.new_secret(), next_path)


async def _confirm(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    """The code from the app for the secret the page showed: only then is it kept."""
    form = await request.post()
    secret = str(form.get("secret", ""))[:64]
    next_path = safe_next(str(form.get("next", "")))
    if signed.two_factor:
        raise see_other(next_path)
    language = words(language_of(request))
    if len(secret) < 16 or not secret.isalnum():
        return _enrol_page(
            request, signed, two_factor.new_secret(), next_path, language["bad_code"]
        )
    step = two_factor.accepted_step(secret, str(form.get("code", "")), None)
    if step is None:
        return _enrol_page(request, signed, secret, next_path, language["bad_code"])
    async with request.app[SESSION_POOL]() as session, session.begin():
        account = await session.get(StaffAccount, signed.account_id)
        if account is None:
            raise see_other("/inbox/login")
        account.totp_secret = secret
        account.totp_last_step = step
        AuditLog(session).add(f"staff:{signed.login}", "staff.two_factor", f"staff:{signed.login}")
    raise see_other(next_path)


routes.get("/inbox/two-factor")(signed_in_only(_show))
routes.post("/inbox/two-factor")(signed_in_only(_confirm))
