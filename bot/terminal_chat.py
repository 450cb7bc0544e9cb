"""`otklik chat`: the conversation core in a terminal, for trying FAQ and hours quickly."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys

from bot.app import create_services
from bot.config import Settings
from bot.core.messages import InboundMessage, Reply
from storage import migrate

CHANNEL = "console"


def _bold(text: str) -> str:
    """Bold on a terminal; plain text into a pipe or a file (no raw escape codes there)."""
    return f"\033[1m{text}\033[0m" if sys.stdout.isatty() else text


def _print(replies: list[Reply]) -> list[str]:
    """Show replies; buttons are numbered so the user can press one by typing its number."""
    data: list[str] = []
    for reply in replies:
        if reply.title:
            print(f"\n{_bold(reply.title)}")
        print(reply.text)
        for row in reply.buttons:
            for button in row:
                data.append(button.data)
                print(f"  [{len(data)}] {button.text}")
    return data


async def terminal_chat(settings: Settings) -> int:
    services = create_services(settings)
    await migrate.upgrade(services.engine)
    user = getpass.getuser()
    # The terminal's locale stands in for Telegram's language_code.
    locale_code = (os.environ.get("LC_ALL") or os.environ.get("LANG") or "").split(".")[0] or None
    if locale_code in ("C", "POSIX"):
        locale_code = None
    print("Type a question, a /command, or a button number. Ctrl+D quits.")
    buttons: list[str] = []
    text = "/start"
    try:
        while True:
            if text.isdigit() and 0 < int(text) <= len(buttons):
                message = InboundMessage(
                    CHANNEL, user, button=buttons[int(text) - 1], language_code=locale_code
                )
            else:
                command = text[1:].split()[0] if text.startswith("/") and len(text) > 1 else None
                message = InboundMessage(
                    CHANNEL, user, text=text, command=command, language_code=locale_code
                )
            async with services.session_pool() as session, session.begin():
                outcome = await services.conversation.handle(session, message)
            buttons = _print(outcome.replies)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return 0
            text = line.strip() or "/menu"
    finally:
        await services.engine.dispose()
