"""Numbered choices, for channels that show no buttons (or too many for what they show).

The reply's buttons become lines of text the customer answers by typing a number: an NPS
scale as "0 · 1 · … · 10", other options as "1 — Yes". What each number means is stored on the
customer's identity on that channel (`channel_identities.offered`), so the answer is understood
by any process, after a restart too; the conversation core reads it back when a message is
just such a number, and forgets it once used, so a later "5" is plain text again."""

from __future__ import annotations

import json
import logging
import re

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.messages import Button
from storage.db import DB_ERRORS, short_statements
from storage.models import ChannelIdentity

log = logging.getLogger(__name__)

KEY = re.compile(r"\d{1,2}")


def keys_for(buttons: list[Button]) -> list[str]:
    """What to type for each option: its label where that is a number (an NPS score), else
    the next free number."""
    keys: list[str] = []
    used = {b.text for b in buttons if b.text.isdigit() and len(b.text) <= 2}
    following = max((int(k) for k in used), default=0) + 1
    for button in buttons:
        if button.text in used and button.text not in keys:
            keys.append(button.text)
        else:
            while str(following) in used:
                following += 1
            keys.append(str(following))
            following += 1
    return keys


def numbered(text: str, buttons: list[Button]) -> tuple[str, dict[str, str]]:
    """The text with the options below it, and {what to type: button data}."""
    if not buttons:
        return text, {}
    keys = keys_for(buttons)
    numeric = [k for k, b in zip(keys, buttons, strict=True) if k == b.text]
    lines = [" · ".join(numeric)] if numeric else []
    lines += [f"{k} — {b.text}" for k, b in zip(keys, buttons, strict=True) if k != b.text]
    body = f"{text}\n\n" if text else ""
    return body + "\n".join(lines), dict(zip(keys, (b.data for b in buttons), strict=True))


async def offer(
    session: AsyncSession, channel: str, external_id: str, choices: dict[str, str]
) -> None:
    await session.execute(
        update(ChannelIdentity)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        .values(offered=json.dumps(choices, ensure_ascii=False))
    )


async def take(session: AsyncSession, channel: str, external_id: str, text: str) -> str | None:
    """The button data a typed number stands for, if one was offered; the offer is used up."""
    typed = text.strip()
    if not KEY.fullmatch(typed):
        return None
    identity = ChannelIdentity.__table__.c
    where = (identity.channel == channel, identity.external_id == external_id)
    stored = (await session.execute(select(identity.offered).where(*where))).scalar()
    if not stored:
        return None
    try:
        choices = json.loads(stored)
    except ValueError:
        return None
    data = choices.get(typed) if isinstance(choices, dict) else None
    if not isinstance(data, str):
        return None
    await session.execute(update(ChannelIdentity).where(*where).values(offered=""))
    return data


async def offer_after_sending(
    pool: async_sessionmaker[AsyncSession],
    channel: str,
    external_id: str,
    choices: dict[str, str],
) -> None:
    """Keep what the numbers of a message already sent mean. A database failure is logged,
    not raised: the message went out, and saying otherwise would send it again (a typed number
    may then not be understood)."""
    try:
        with short_statements():
            async with pool() as session, session.begin():
                await offer(session, channel, external_id, choices)
    except DB_ERRORS:
        log.warning("%s: sent, but the choices offered could not be stored", channel)
