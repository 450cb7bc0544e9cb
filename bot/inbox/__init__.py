"""The web inbox for support staff at /inbox (see `pages`)."""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from bot.config import ApiConfig
from bot.inbox import admin as admin
from bot.inbox import campaigns as campaigns
from bot.inbox import gaps as gaps
from bot.inbox import manager_reports as manager_reports
from bot.inbox import pages
from bot.inbox import people as people
from bot.inbox import reports as reports
from bot.inbox import settings as settings
from bot.inbox import two_factor as two_factor
from bot.inbox.live import InboxLive
from bot.web.flood import RequestLimiter
from bot.web.keys import INBOX_LIVE, SESSION_POOL, SIGN_IN_LIMITER


def codes(text: str) -> Markup:
    """A catalog text with `commands` and `keys` in backticks shown as code, the rest as
    text (escaped first: only the backticks become markup)."""
    parts = str(escape(text)).split("`")
    return Markup(
        "".join(f"<code>{part}</code>" if n % 2 else part for n, part in enumerate(parts))
    )


def setup(app: web.Application, config: ApiConfig) -> None:
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("bot.inbox", "templates"),
        autoescape=True,  # every customer string is shown as text, never as markup
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["codes"] = codes
    app[SIGN_IN_LIMITER] = RequestLimiter(config.sign_in_per_minute, burst=5)
    live = InboxLive(app[SESSION_POOL])
    app[INBOX_LIVE] = live
    app.on_shutdown.append(lambda _app: live.close())
    app.add_routes(pages.routes)  # the console's modules put their pages on the same table
