"""What the conversation needs from surveys, as a protocol: it hands a survey button or comment
to whatever answers surveys (`bot.campaigns.answers.SurveyAnswers`) without importing the
campaigns package, which is built on the core and not the other way round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import Reply
from bot.core.tickets.service import Effects
from storage.models import Customer

# A customer's pending action that starts with this waits for a survey's comment; the rest is
# the delivery's id.
SURVEY_COMMENT = "sv_comment:"


@dataclass
class SurveyTurn:
    """What answering a survey button says to the customer, and sends elsewhere."""

    replies: list[Reply]
    effects: Effects


class SurveyHooks(Protocol):
    async def on_button(
        self, session: AsyncSession, customer: Customer, delivery_id: int, action: str
    ) -> SurveyTurn | None:
        """A survey button: None when it is not this customer's (the caller refuses it)."""

    async def on_comment(
        self, session: AsyncSession, customer: Customer, delivery_id: int, text: str
    ) -> tuple[Reply, Effects]:
        """The comment a survey asked for."""
