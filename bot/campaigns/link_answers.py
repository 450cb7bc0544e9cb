"""Answers given on a survey page: opened by a link, a QR code or an email's score row.

What a token opens is a `SurveyPage`: a survey for anyone, a survey for one customer, or one
campaign delivery (an email). Opening a page records no answer: a mail scanner opens every link
of an email, at delivery and again at click time. A delivery's page notes which score link was
opened (`link_views`), which is how a scanner opening all of them is told from a person.

An answer is recorded by a POST, and the last one wins: a delivery has one answer, and so does
an answering session on an open link (the page's form nonce), so a resubmitted or replayed form
replaces its answer rather than adding one. An answer that looks like a scanner's is stored
flagged (why, in `flagged`) and left out of the reports' counts, which say how many they left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.answers import delivery_closed, detractor_alert
from bot.campaigns.surveys import PAGE_FOLLOWUP, SCALES, followup, question, segment, texts_of
from bot.config import LinksConfig
from bot.core.delivery import webhooks
from bot.core.tickets.service import Effects
from storage.models import Campaign, Customer, Delivery, LinkView, Survey, SurveyResponse
from storage.repositories.reports import add_response, count_in_rollup

LINK = "link"  # the channel of an answer given on a page that no email carried
VIEW_WINDOW = timedelta(minutes=1)  # score links of one email opened this close: a scanner
MAX_COMMENT = 4000


@dataclass
class SurveyPage:
    survey: Survey
    campaign: Campaign | None = None
    delivery: Delivery | None = None
    customer: Customer | None = None
    closed: bool = False

    @property
    def channel(self) -> str:
        """ "email" for an email's score row, else "link"."""
        return self.delivery.channel if self.delivery is not None else LINK

    @property
    def language(self) -> str | None:
        """The customer's language; None for a page anyone may open (the browser's then)."""
        if self.delivery is not None:
            return self.delivery.language
        return self.customer.language if self.customer is not None else None

    def scale(self) -> list[tuple[int, str]]:
        """(value, label) for each answer: a number scale, or a custom survey's options."""
        if self.survey.kind in SCALES:
            low, high = SCALES[self.survey.kind]
            return [(n, str(n)) for n in range(low, high + 1)]
        options = texts_of(self.survey.texts).get("options") or []
        return [(number, str(option)[:80]) for number, option in enumerate(options)]

    def question(self, language: str) -> str:
        texts = texts_of(self.survey.texts)
        return question(self.survey.kind, texts, language, anonymous=False)

    def followup(self, language: str, score: int) -> str:
        texts = texts_of(self.survey.texts)
        return followup(self.survey.kind, texts, language, score, PAGE_FOLLOWUP)

    def segment(self, score: int) -> str:
        return segment(self.survey.kind, score)


async def open_page(
    session: AsyncSession, kind: str, ids: tuple[int, ...], now: datetime
) -> SurveyPage | None:
    """What a link of `kind` opens: "s" a survey (ids: survey), "c" a survey for a customer
    (survey, customer), "d" a delivery; None if it names nothing that exists now."""
    if kind == "d":
        delivery = await session.get(Delivery, ids[0])
        campaign = await session.get(Campaign, delivery.campaign_id) if delivery else None
        survey = await session.get(Survey, campaign.survey_id) if campaign else None
        if delivery is None or campaign is None or survey is None:
            return None
        customer = await session.get(Customer, delivery.customer_id)
        closed = delivery_closed(delivery, campaign, now)
        return SurveyPage(survey, campaign, delivery, customer, closed)
    survey = await session.get(Survey, ids[0])
    if survey is None:
        return None
    if kind == "c":
        customer = await session.get(Customer, ids[1])
        return None if customer is None else SurveyPage(survey, customer=customer)
    return SurveyPage(survey)


async def note_view(
    session: AsyncSession, page: SurveyPage, score: int | None, now: datetime
) -> None:
    """A delivery's page was opened (with this score link): kept to tell scanners apart."""
    if page.delivery is not None:
        session.add(LinkView(delivery_id=page.delivery.id, score=score, seen_at=now))


@dataclass
class Recorded:
    response: SurveyResponse
    effects: Effects


async def record_score(
    session: AsyncSession,
    page: SurveyPage,
    score: int,
    nonce: str | None,
    now: datetime,
    config: LinksConfig,
) -> Recorded:
    """Record (or replace: the last answer wins) this page's answer. `nonce` is the answering
    session of a page that carries no delivery. The caller has checked `score` is on the
    scale and the page is open."""
    survey, delivery = page.survey, page.delivery
    existing = await _existing(session, page, nonce)
    flag = await _scanner_sign(session, page, existing, now, config)
    effects = Effects()
    was_detractor = existing is not None and _detractor(existing)
    if existing is None:
        response = SurveyResponse(
            kind=survey.kind,
            campaign_id=page.campaign.id if page.campaign else None,
            customer_id=None if survey.anonymous or page.customer is None else page.customer.id,
            channel=page.channel,
            score=score,
            created_at=now,
            survey_id=survey.id,
            delivery_id=delivery.id if delivery else None,
            form_nonce=None if delivery else nonce,
            flagged=flag,
        )
        await add_response(session, response)
    else:
        response = existing
        await count_in_rollup(session, response, -1)
        response.score, response.created_at, response.flagged = score, now, flag
        await count_in_rollup(session, response, 1)
    if delivery is not None:
        delivery.status = "answered"
        # Anonymous: neither the time nor the score of the answer stays on the delivery.
        delivery.answered_at = None if survey.anonymous else now
        delivery.score = None if survey.anonymous else score
    if flag is None:
        await webhooks.survey_answered(session, response)
        if _detractor(response) and not was_detractor and not survey.anonymous:
            customer, campaign = page.customer, page.campaign
            if customer is not None:
                name = campaign.name if campaign else survey.name
                effects.posts.append(detractor_alert(customer, score, name, response.id))
    return Recorded(response, effects)


async def record_comment(
    session: AsyncSession, page: SurveyPage, response_id: int, text: str, now: datetime
) -> bool:
    """The comment on a recorded answer, once: False if it was given already (a replayed
    form records nothing) or the answer is not this page's."""
    response = await session.get(SurveyResponse, response_id)
    if response is None or response.survey_id != page.survey.id or response.comment is not None:
        return False
    if page.delivery is not None and response.delivery_id != page.delivery.id:
        return False
    text = text.strip()[:MAX_COMMENT]
    if page.survey.anonymous:
        # A separate, unlinked row, as in chat: the comment cannot lead back to the score.
        response.comment = ""  # given: a second one is a replay
        if text:
            session.add(
                SurveyResponse(
                    kind=page.survey.kind,
                    campaign_id=response.campaign_id,
                    channel=response.channel,
                    score=None,
                    comment=text,
                    created_at=now,
                    survey_id=page.survey.id,
                )
            )
        return True
    response.comment = text
    return True


async def _existing(
    session: AsyncSession, page: SurveyPage, nonce: str | None
) -> SurveyResponse | None:
    if page.delivery is not None:
        statement = select(SurveyResponse).where(SurveyResponse.delivery_id == page.delivery.id)
    elif nonce is not None:
        statement = select(SurveyResponse).where(SurveyResponse.form_nonce == nonce)
    else:
        return None
    statement = statement.where(SurveyResponse.score.is_not(None))
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


async def _scanner_sign(
    session: AsyncSession,
    page: SurveyPage,
    existing: SurveyResponse | None,
    now: datetime,
    config: LinksConfig,
) -> str | None:
    """Why this answer looks like a mail scanner's, or None (see the README)."""
    if existing is not None and now - existing.created_at < timedelta(seconds=config.burst_seconds):
        return "burst"  # several scores within a second or two
    delivery = page.delivery
    if delivery is None:
        return None
    sent = delivery.sent_at
    if sent is not None and now - sent < timedelta(seconds=config.min_seconds_after_send):
        return "too_soon"  # nobody reads an email and answers that fast
    opened = (
        await session.execute(
            select(func.count(func.distinct(LinkView.score))).where(
                LinkView.delivery_id == delivery.id,
                LinkView.seen_at >= now - VIEW_WINDOW,
                LinkView.score.is_not(None),
            )
        )
    ).scalar_one()
    if opened >= config.scanner_links:
        return "all_links"  # every score link of the email opened together
    return None


async def opt_out(session: AsyncSession, customer_id: int) -> None:
    """No more surveys for this customer, on any channel (an email's unsubscribe link)."""
    customer = await session.get(Customer, customer_id)
    if customer is not None:
        customer.surveys_opted_out = True


def _detractor(response: SurveyResponse) -> bool:
    return (
        response.kind == "nps"
        and response.score is not None
        and response.score <= 6
        and response.flagged is None
    )
