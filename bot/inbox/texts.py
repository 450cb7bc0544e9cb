"""Which language a page is shown in: the first of ru/en the browser asks for. The words
themselves are in the one catalog (`bot/core/catalog/web.toml`, read by `bot.core.texts`)."""

from __future__ import annotations

from aiohttp import web

from bot.core.texts import LANGUAGES


def language_of(request: web.Request) -> str:
    """The first of ru/en the browser asks for; English otherwise."""
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"
