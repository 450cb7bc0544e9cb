"""A customer's taps and words on a survey: score, follow-up, comment, opt-outs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.audience import LESS_OFTEN_DAYS
from bot.campaigns.surveys import (
    ALREADY,
    BUTTONS,
    CLOSED,
    COMMENT_THANKS,
    LESS_DONE,
    SCALES,
    STOP_DONE,
    followup,
    pick,
    texts_of,
)
from bot.core.buttons import DetractorTicket, SurveyAnswer
from bot.core.delivery import webhooks
from bot.core.messages import Button, Reply
from bot.core.survey_hooks import SURVEY_COMMENT, SurveyTurn
from bot.core.tickets.service import STAFF, Effects, Post
from storage.models import Campaign, Customer, Delivery, Survey, SurveyResponse, utcnow
from storage.repositories.reports import add_response

GENERAL = "0"  # staff recipient for posts that belong to no ticket


def delivery_closed(delivery: Delivery, campaign: Campaign, now: datetime) -> bool:
    """Past answering: expired, never seen, its campaign cancelled, or its hours are up."""
    if delivery.status in ("expired", "unseen") or campaign.status == "cancelled":
        return True
    sent = delivery.sent_at
    return bool(
        sent and campaign.expire_hours and now > sent + timedelta(hours=campaign.expire_hours)
    )


def detractor_alert(customer: Customer, score: int, campaign: str, response_id: int) -> Post:
    """The staff group's post about an NPS detractor, with a button that opens a ticket."""
    name = customer.display_name or f"customer {customer.id}"
    return (
        STAFF,
        GENERAL,
        Reply(
            f"Detractor: {name} gave {score}/10 in campaign “{campaign}”.",
            title="📉 NPS alert",
            buttons=((Button("🎫 Open a ticket", DetractorTicket(response_id).pack()),),),
        ),
    )


class SurveyAnswers:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    async def _load(
        self, session: AsyncSession, customer: Customer, delivery_id: int
    ) -> tuple[Delivery, Campaign, Survey] | None:
        delivery = await session.get(Delivery, delivery_id)
        if delivery is None or delivery.customer_id != customer.id:
            return None
        campaign = await session.get(Campaign, delivery.campaign_id)
        survey = await session.get(Survey, campaign.survey_id) if campaign else None
        if campaign is None or survey is None:
            return None
        return delivery, campaign, survey

    async def on_button(
        self, session: AsyncSession, customer: Customer, delivery_id: int, action: str
    ) -> SurveyTurn | None:
        """None when the button is not this customer's (the caller refuses it)."""
        loaded = await self._load(session, customer, delivery_id)
        if loaded is None:
            return None
        delivery, campaign, survey = loaded
        language = customer.language
        turn = SurveyTurn([], Effects())
        if action == "stop":
            customer.surveys_opted_out = True
            turn.replies.append(Reply(pick(STOP_DONE, language)))
            return turn
        if action == "less":
            customer.survey_throttle_days = LESS_OFTEN_DAYS
            turn.replies.append(Reply(pick(LESS_DONE, language)))
            return turn
        if action == "skip":
            customer.pending_action = None
            turn.replies.append(Reply(pick(COMMENT_THANKS, language)))
            return turn
        if delivery_closed(delivery, campaign, self._clock()):
            turn.replies.append(Reply(pick(CLOSED, language)))
            return turn
        if delivery.status == "answered":
            turn.replies.append(Reply(pick(ALREADY, language)))
            return turn
        score = int(action)
        low, high = SCALES.get(
            survey.kind, (0, max(len(texts_of(survey.texts).get("options", [])) - 1, 0))
        )
        if not low <= score <= high:
            return None
        response = SurveyResponse(
            kind=survey.kind,
            campaign_id=campaign.id,
            customer_id=None if survey.anonymous else customer.id,
            channel=delivery.channel,
            score=score,
            created_at=self._clock(),
        )
        await add_response(session, response)
        await webhooks.survey_answered(session, response)
        delivery.status = "answered"
        # Anonymous: neither the time nor the score of the answer stays on the delivery.
        delivery.answered_at = None if survey.anonymous else self._clock()
        delivery.score = None if survey.anonymous else score
        customer.pending_action = f"{SURVEY_COMMENT}{delivery.id}"
        skip = (
            (
                Button(
                    pick(BUTTONS["skip"], language),
                    SurveyAnswer(delivery.id, "skip").pack(),
                ),
            ),
        )
        text = followup(survey.kind, texts_of(survey.texts), language, score)
        turn.replies.append(Reply(text, buttons=skip, edit_message_id=delivery.message_id))
        if survey.kind == "nps" and score <= 6 and not survey.anonymous:
            turn.effects.posts.append(detractor_alert(customer, score, campaign.name, response.id))
        return turn

    async def on_comment(
        self, session: AsyncSession, customer: Customer, delivery_id: int, text: str
    ) -> tuple[Reply, Effects]:
        customer.pending_action = None
        effects = Effects()
        loaded = await self._load(session, customer, delivery_id)
        if loaded is not None:
            delivery, campaign, survey = loaded
            if survey.anonymous:
                # A separate, unlinked row: the comment cannot lead back to the score either.
                session.add(
                    SurveyResponse(
                        kind=survey.kind,
                        campaign_id=campaign.id,
                        channel=delivery.channel,
                        score=None,
                        comment=text[:4000],
                        created_at=self._clock(),
                    )
                )
            else:
                response = (
                    await session.execute(
                        select(SurveyResponse)
                        .where(
                            SurveyResponse.campaign_id == campaign.id,
                            SurveyResponse.customer_id == customer.id,
                        )
                        .order_by(SurveyResponse.id.desc())
                        .limit(1)
                    )
                ).scalar_one_or_none()
                if response is not None:
                    response.comment = text[:4000]
        return Reply(pick(COMMENT_THANKS, customer.language)), effects
