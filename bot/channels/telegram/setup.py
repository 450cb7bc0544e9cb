"""Factories for the aiogram side: the Bot pointed at `[telegram] api_base`, the Dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response
from aiogram.types import ForumTopic, Message, ResultChatMemberUnion, Update, User

from bot.channels.telegram.config import TelegramConfig
from bot.channels.telegram.staff_directory import StaffDirectory
from bot.core.conversation import Conversation
from bot.core.tickets.linking import Linking
from bot.core.tickets.service import TicketService
from handlers.admin import create_admin_router
from handlers.staff import create_staff_router
from handlers.telegram import create_router

# aiogram builds `Response[T]` for every API answer; pydantic keeps parametrised generics only
# weakly, so without a strong reference each call rebuilds the model class (about a millisecond
# of CPU per message in our profile). Holding them here makes that a dictionary lookup.
_PINNED_RESPONSE_TYPES = (
    Response[Message],
    Response[bool],
    Response[list[Update]],
    Response[User],
    Response[ForumTopic],
    Response[ResultChatMemberUnion],
)


def create_bot(config: TelegramConfig) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(config.api_base.rstrip("/")))
    return Bot(token=config.token, session=session)


def create_dispatcher(
    conversation: Conversation,
    tickets: TicketService,
    staff: StaffDirectory | None,
    admin_ids: list[int],
    business_zone: ZoneInfo,
    clock: Callable[[], datetime],
    churn_months: int = 1,
) -> Dispatcher:
    """Long-lived services go into workflow data; handlers name them as parameters. The staff
    router comes first and only sees the staff group; customers are served in private chats."""
    # No FSM: conversation state lives in SQL, and its middleware costs time on every update.
    dispatcher = Dispatcher(
        disable_fsm=True,
        conversation=conversation,
        tickets=tickets,
        linking=Linking(tickets, clock),
        staff_directory=staff,
        business_zone=business_zone,
        clock=clock,
        churn_months=churn_months,
    )
    if staff is not None:
        dispatcher.include_router(create_staff_router(staff))
    if admin_ids:
        dispatcher.include_router(create_admin_router(admin_ids))
    dispatcher.include_router(create_router())
    return dispatcher
