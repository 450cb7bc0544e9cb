"""Outbound for VK: messages.send with a keyboard of callback buttons, paced per community.

`random_id` comes from the message's key (an outbox row, a campaign delivery) and its part:
VK does not send a random_id it has seen for that user again, so a retry after a lost answer
never shows twice."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.vk import clients
from bot.channels.vk.api import VkApi
from bot.channels.vk.clients import EVERYTHING, ClientCan
from bot.channels.vk.events import CHANNEL
from bot.core import choices
from bot.core.channel import Capabilities, fit
from bot.core.choices import numbered
from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.messages import Reply
from storage.db import short_statements

# VK's keyboards: inline under a message at most 10 buttons in 6 rows; the one in place of the
# user's at most 40 in 10 rows; either at most 5 a row. Past them VK refuses the message (911).
INLINE_BUTTONS = 10
INLINE_ROWS = 6
KEYBOARD_ROWS = 10
ROW_BUTTONS = 5
LABEL_CHARS = 40
CAPABILITIES = Capabilities(
    text_chars=4096,
    buttons_per_message=40,
    buttons_per_row=ROW_BUTTONS,
    button_chars=LABEL_CHARS,
    media=False,
    edits=False,
)


def random_id(key: str | None, part: int) -> int:
    if key is None:
        return secrets.randbelow(2**31 - 1) + 1
    digest = hashlib.sha256(f"{key}:{part}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def keyboard(reply: Reply, can: ClientCan = EVERYTHING) -> str | None:
    """Callback buttons inline under the message when they fit (10). Past that, a keyboard in
    place of the user's (up to 40) of text buttons: VK hides a `one_time` keyboard after a tap
    only when its buttons are text buttons (a callback scale stayed, and a second tap was
    "already counted"); a text button's tap arrives as the user's message with our payload."""
    buttons = [button for row in reply.buttons for button in row]
    if not buttons:
        return None
    inline = len(buttons) <= INLINE_BUTTONS and can.inline
    # An app that cannot press callback buttons gets text buttons, inline too.
    kind = "callback" if inline and can.callback else "text"
    rows = [
        [
            {
                "action": {
                    "type": kind,
                    "label": button.text[:LABEL_CHARS],
                    "payload": json.dumps({"d": button.data}, ensure_ascii=False),
                }
            }
            for button in row
        ]
        for row in reply.buttons
    ]
    rows = fit_rows(rows, INLINE_ROWS if inline else KEYBOARD_ROWS)
    board: dict[str, Any] = {"buttons": rows}
    if inline:
        board["inline"] = True
    else:
        board["one_time"] = True
    return json.dumps(board, ensure_ascii=False)


def fit_rows(rows: list[list[Any]], most: int) -> list[list[Any]]:
    """At most `most` rows of at most ROW_BUTTONS: the two neighbouring rows that make the
    shortest joined row (the last such pair) are joined until the keyboard fits (a FAQ page of
    ten one-button questions and "▶" becomes ten rows, "▶" beside the tenth question)."""
    rows = [list(row) for row in rows]
    while len(rows) > most:
        pairs = [
            (len(rows[i]) + len(rows[i + 1]), i)
            for i in range(len(rows) - 1)
            if len(rows[i]) + len(rows[i + 1]) <= ROW_BUTTONS
        ]
        if not pairs:
            break  # cannot happen within 40 buttons and 10 rows of 5
        _, i = min(pairs, key=lambda pair: (pair[0], -pair[1]))  # the last of the shortest
        rows[i : i + 2] = [rows[i] + rows[i + 1]]
    return rows


class VkSender:
    def __init__(
        self,
        api: VkApi,
        limiter: RateLimiter,
        pool: async_sessionmaker[AsyncSession],
        *,
        paced: bool = True,
    ) -> None:
        self._api = api
        self._limiter = limiter
        self._pool = pool
        # paced=False: the campaign sender took this send's turn on the same limiter already.
        self._paced = paced

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        can = EVERYTHING
        if reply.buttons:
            with short_statements():
                async with self._pool() as session:
                    can = await clients.of(session, recipient)
        offered: dict[str, str] = {}
        for part_number, part in enumerate(fit(reply, CAPABILITIES)):
            if part.buttons and not can.keyboard:
                # No keyboard at all in their app: the options as numbers to type.
                text, choices_ = numbered(part.text, [b for row in part.buttons for b in row])
                offered.update(choices_)
                part = dataclasses.replace(part, text=text, buttons=())
            text = f"{part.title}\n{part.text}" if part.title else part.text
            params: dict[str, Any] = {
                "peer_id": recipient,
                "random_id": random_id(key, part_number),
                "message": text or "…",
            }
            board = keyboard(part, can)
            if board is not None:
                params["keyboard"] = board
            if self._paced or part_number > 0:
                await self._limiter.acquire_reply()
            result = await self._api.call("messages.send", params)
            if result.status is not SendStatus.SENT:
                return result
        if offered:
            await choices.offer_after_sending(self._pool, CHANNEL, recipient, offered)
        return SendResult(SendStatus.SENT)
