"""Telegram's "/" menu: what each kind of user can type, in their app's language.

Customers see their commands in private chats (Russian for a Russian app, English otherwise),
staff see the ticket commands in the staff group, and each admin sees the admin commands in
their private chat with the bot. Published at start-up; a failure is retried in the background
and never stops the bot (the commands work without the menu).
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeUnion,
)

log = logging.getLogger(__name__)

CUSTOMER = {
    "en": [
        ("start", "Menu"),
        ("faq", "Common questions"),
        ("hours", "Working hours"),
        ("complaint", "Write to a person / complain"),
        ("mytickets", "My tickets"),
        ("link", "Link another chat with us"),
        ("cancel", "Cancel"),
    ],
    "ru": [
        ("start", "Меню"),
        ("faq", "Частые вопросы"),
        ("hours", "Часы работы"),
        ("complaint", "Написать человеку / пожаловаться"),
        ("mytickets", "Мои обращения"),
        ("link", "Связать с другим чатом"),
        ("cancel", "Отмена"),
    ],
}
STAFF = {
    "en": [
        ("resolve", "Resolve the ticket (asks for CSAT)"),
        ("reopen", "Reopen the ticket"),
        ("assign", "Take the ticket, or assign it: /assign NAME"),
        ("priority", "Priority: /priority low|normal|high|urgent"),
        ("merge", "Merge into another ticket: /merge ID"),
        ("canned", "Send a canned reply: /canned NAME"),
        ("samecustomer", "Ticket N's customer is this one: /samecustomer N"),
        ("via", "Where replies go: /via vk, /via last"),
    ],
    "ru": [
        ("resolve", "Решить обращение (спросит оценку)"),
        ("reopen", "Открыть снова"),
        ("assign", "Взять себе или назначить: /assign ИМЯ"),
        ("priority", "Приоритет: /priority low|normal|high|urgent"),
        ("merge", "Объединить с другим: /merge НОМЕР"),
        ("canned", "Шаблон ответа: /canned ИМЯ"),
        ("samecustomer", "Клиент обращения N — этот же: /samecustomer N"),
        ("via", "Куда отвечать: /via vk, /via last"),
    ],
}
ADMIN = {
    "en": [
        ("admin", "Admin commands"),
        ("report", "NPS, CSAT and CES report"),
        ("newsurvey", "Create a survey"),
        ("surveys", "List surveys"),
        ("newcampaign", "Start a survey campaign"),
        ("campaigns", "List campaigns"),
        ("campaign", "Campaign progress: /campaign ID"),
    ],
    "ru": [
        ("admin", "Команды администратора"),
        ("report", "Отчёт: NPS, CSAT, CES"),
        ("newsurvey", "Создать опрос"),
        ("surveys", "Опросы"),
        ("newcampaign", "Запустить рассылку опроса"),
        ("campaigns", "Рассылки"),
        ("campaign", "Ход рассылки: /campaign НОМЕР"),
    ],
}


def menus(
    staff_chat_id: int, admin_ids: list[int]
) -> list[tuple[BotCommandScopeUnion, str | None, list[BotCommand]]]:
    """(scope, language code or None for everyone else, commands) for every menu."""

    def commands(*groups: list[tuple[str, str]]) -> list[BotCommand]:
        return [BotCommand(command=c, description=d) for group in groups for c, d in group]

    result: list[tuple[BotCommandScopeUnion, str | None, list[BotCommand]]] = []
    for language in (None, "ru"):
        key = language or "en"
        result.append((BotCommandScopeAllPrivateChats(), language, commands(CUSTOMER[key])))
        if staff_chat_id:
            result.append(
                (BotCommandScopeChat(chat_id=staff_chat_id), language, commands(STAFF[key]))
            )
        for admin in admin_ids:
            menu = commands(CUSTOMER[key], ADMIN[key])
            result.append((BotCommandScopeChat(chat_id=admin), language, menu))
    return result


async def publish_commands(
    bot: Bot, staff_chat_id: int, admin_ids: list[int], *, first: float = 5.0, cap: float = 600.0
) -> None:
    """setMyCommands for every menu, retried with back-off until Telegram takes them all."""
    pending = menus(staff_chat_id, admin_ids)
    delay = first
    while pending:
        failed = []
        for scope, language, commands in pending:
            try:
                await bot.set_my_commands(commands, scope=scope, language_code=language)
            except (TelegramAPIError, ClientDecodeError) as exc:
                failed.append((scope, language, commands))
                reason = type(exc).__name__
        if not failed:
            log.info("telegram command menus published")
            return
        log.warning("setMyCommands failed (%s); retrying in %.0f s", reason, delay)
        pending = failed
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)
