"""The channel-agnostic conversation: menu, FAQ, working hours, messages for a person.

It takes an `InboundMessage` and a database session and returns `Reply` objects; which channel
carried the message is only a value it stores, never a branch it takes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import FaqConfig
from bot.core import choices
from bot.core.buttons import (
    CUSTOMER_BUTTONS,
    AskPerson,
    Cancel,
    Complain,
    CsatScore,
    FaqEntry,
    FaqList,
    FaqPage,
    Hours,
    LinkAnswer,
    LinkStart,
    Menu,
    SendQuestion,
    SurveyAnswer,
    Vote,
    decode,
)
from bot.core.channel import cut
from bot.core.hours import WorkingHours
from bot.core.hours_text import asked_days, describe_days, describe_hours
from bot.core.messages import Attachment, Button, InboundMessage, KeptFile, Reply
from bot.core.survey_hooks import SURVEY_COMMENT, SurveyHooks
from bot.core.texts import channel_word, t
from bot.core.tickets.linking import CODE_TTL, Linking, LinkOutcome, formatted
from bot.core.tickets.service import Effects, Post, TicketService
from bot.core.understanding import language as lang
from bot.core.understanding.faq_catalog import FaqCatalog
from bot.core.understanding.intents import IntentMatcher
from bot.metrics import Metrics
from storage.models import Customer, utcnow
from storage.repositories.conversation import ConversationLog, message_row
from storage.repositories.customer_months import month_of, note_active
from storage.repositories.customers import CustomerRepository, wrote_on
from storage.repositories.faq import FaqRepository
from storage.repositories.faq_gaps import SUGGESTED, UNANSWERED, UNHELPFUL, FaqGaps
from storage.repositories.tickets import TicketRepository

NEW_TICKET = "new_ticket"
CSAT_COMMENT = "csat_comment:"
_FAQ_LIST_SIZE = 10


# Letters a text needs before its script may change the customer's language.
SWITCH_LETTERS = 5


@dataclass
class _Turn:
    """What one inbound message works with; built once, passed to each step."""

    session: AsyncSession
    customer: Customer
    channel: str
    language: str
    # The customer's message is logged together with the first reply (one statement, not two),
    # or alone when its id is needed first or the turn ends without a reply.
    inbound: dict[str, Any] | None
    inbound_row_id: int | None = None
    attachment: Attachment | None = None
    files: tuple[KeptFile, ...] = ()
    replies: list[Reply] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)

    async def log(self, *rows: dict[str, Any]) -> list[int]:
        """Log rows after the customer's message; returns the ids of `rows`."""
        pending = [self.inbound] if self.inbound is not None else []
        ids = await ConversationLog(self.session).add_rows([*pending, *rows])
        if self.inbound is not None:
            self.inbound, self.inbound_row_id = None, ids.pop(0)
        return ids

    async def inbound_id(self) -> int:
        if self.inbound_row_id is None:
            await self.log()
        assert self.inbound_row_id is not None
        return self.inbound_row_id


@dataclass(frozen=True)
class Outcome:
    """Replies for the customer on the channel they wrote from, and posts for elsewhere (the
    staff inbox); both go to the outbox in the caller's transaction."""

    replies: list[Reply]
    posts: list[Post]


class Conversation:
    def __init__(
        self,
        *,
        hours: WorkingHours,
        faq: FaqCatalog,
        faq_config: FaqConfig,
        metrics: Metrics,
        tickets: TicketService,
        surveys: SurveyHooks,
        bot_name: str = "Otklik",
        default_language: str = "ru",
        max_message_chars: int = 4096,
        clock: Callable[[], datetime] = utcnow,
        intents: IntentMatcher | None = None,
    ) -> None:
        self._intents = intents
        self._hours = hours
        self._faq = faq
        self._faq_config = faq_config
        self._metrics = metrics
        self._tickets = tickets
        self._surveys = surveys
        self._bot_name = bot_name
        self._default_language = default_language
        self._max_chars = max_message_chars
        self._clock = clock
        self._linking = Linking(tickets, clock)

    @property
    def faq(self) -> FaqCatalog:
        return self._faq

    @property
    def intents(self) -> IntentMatcher | None:
        return self._intents

    def now(self) -> datetime:
        return self._clock()

    async def prepare(self, texts: list[str]) -> None:
        """Before a batch's transaction: the meaning of its questions that words alone will
        not settle, computed together (bot.core.understanding.faq_ranking.FaqMatcher.prepare)."""
        questions = [t.strip() for t in texts if t.strip() and not t.startswith("/")]
        if questions:
            await self._faq.current.prepare(questions)

    async def handle(self, session: AsyncSession, message: InboundMessage) -> Outcome:
        customers = CustomerRepository(session)
        if message.button is None and message.command is None and not message.edited:
            # A number typed on a channel without buttons may answer options offered as text.
            button = await choices.take(session, message.channel, message.external_id, message.text)
            if button is not None:
                message = dataclasses.replace(message, button=button, text="")
        free_text = message.text if message.command is None and message.button is None else ""
        display_name = message.display_name[:256]
        customer = await customers.get_or_create(
            message.channel,
            message.external_id,
            display_name,
            # A command's text ("/start") says nothing about the customer's language.
            lang.detect(message.language_code, free_text, self._default_language),
        )
        # Assigned only when different: any assignment, even of the same value, makes the
        # session flush the customer before its next statement.
        language = self._language_for(customer, message)
        if customer.language != language:
            customer.language = language
        if customer.last_channel != message.channel:
            customer.last_channel = message.channel
        if customer.unreachable or customer.blocked_channels:
            wrote_on(customer, message.channel)
        month = month_of(self._clock())
        if customer.active_month != month:
            customer.active_month = month
            await note_active(session, customer.id, month)
        if display_name and customer.display_name != display_name:
            customer.display_name = display_name
        stored_text = message.text[: self._max_chars]
        inbound = message_row(
            customer.id, message.channel, "in", stored_text, button_data=message.button
        )
        turn = _Turn(
            session,
            customer,
            message.channel,
            customer.language,
            inbound,
            attachment=message.attachment,
            files=message.files,
        )
        if message.thread is not None:
            await self._on_thread(turn, message.text, message.thread)
        elif message.button is not None:
            await self._on_button(turn, message.button)
        elif message.edited:
            await self._on_edit(turn, message.text)
        elif message.command is not None:
            await self._on_command(turn, message.command, _command_argument(message.text))
        else:
            await self._on_text(turn, message.text)
        await turn.inbound_id()  # logged even when nothing was said back
        return Outcome(turn.replies, turn.effects.posts)

    def _language_for(self, customer: Customer, message: InboundMessage) -> str:
        if message.button is not None:
            # A button was shown in the conversation's language: answer in it, even when the
            # app's interface (language_code) is in another.
            return customer.language
        if message.command is not None:
            return lang.from_language_code(message.language_code) or customer.language
        # A word or two ("ok", "thx", "да") is not enough to switch a customer's language: the
        # replies would change language from one message to the next.
        return lang.from_text(message.text, min_letters=SWITCH_LETTERS) or customer.language

    async def _say(self, turn: _Turn, reply: Reply) -> None:
        """Log an outbound reply and queue it for the channel."""
        text = f"{reply.title}\n{reply.text}" if reply.title else reply.text
        await self._log_out(turn, text)
        turn.replies.append(reply)

    async def _log_out(self, turn: _Turn, text: str, faq_entry_id: int | None = None) -> int:
        row = message_row(turn.customer.id, turn.channel, "out", text, faq_entry_id=faq_entry_id)
        (message_id,) = await turn.log(row)
        return message_id

    async def _menu_buttons(self, turn: _Turn) -> tuple[tuple[Button, ...], ...]:
        """Only what works: no FAQ button while the FAQ is empty."""
        language = turn.language
        first_row = [Button(t("btn_hours", language), Hours().pack())]
        if len(await self._faq.index(turn.session)):
            first_row.insert(0, Button(t("btn_faq", language), FaqList().pack()))
        second_row = (
            Button(t("btn_leave_message", language), AskPerson().pack()),
            Button(t("btn_complaint", language), Complain().pack()),
        )
        return (
            tuple(first_row),
            second_row,
            (Button(t("btn_link", language), LinkStart().pack()),),
        )

    # Commands -------------------------------------------------------------------------------

    async def _on_command(self, turn: _Turn, command: str, argument: str) -> None:
        if command == "start":
            name = turn.customer.display_name
            key = "greeting" if name else "greeting_anonymous"
            text = t(key, turn.language, name=name, bot=self._bot_name)
            await self._say(turn, Reply(text, buttons=await self._menu_buttons(turn)))
        elif command == "hours":
            await self._hours_reply(turn)
        elif command == "faq":
            await self._faq_list(turn)
        elif command == "cancel":
            turn.customer.pending_action = None
            await self._say(turn, Reply(t("cancelled", turn.language)))
        elif command in ("complaint", "person", "human") and argument:
            # "/complaint the courier was rude": the text is the complaint, no second question.
            await self._open_ticket(turn, argument)
        elif command in ("complaint", "person", "human"):
            await self._ask_for_problem(turn)
        elif command == "mytickets":
            await self._my_tickets(turn)
        elif command == "link":
            await self._link(turn, argument)
        else:
            await self._menu(turn)

    async def _menu(self, turn: _Turn, prefix: str | None = None) -> None:
        text = prefix or t("menu_prompt", turn.language)
        await self._say(turn, Reply(text, buttons=await self._menu_buttons(turn)))

    async def _hours_reply(self, turn: _Turn, asked: str = "") -> None:
        """Now (open or closed, and until when), or the days the question names."""
        now = self._clock()
        days = asked_days(asked, now.astimezone(self._hours.zone).date()) if asked else None
        if days is None:
            text = describe_hours(self._hours, now, turn.language)
        else:
            text = describe_days(self._hours, days, now, turn.language)
        await self._say(turn, Reply(text, buttons=await self._menu_buttons(turn)))

    async def _faq_list(self, turn: _Turn, page: int = 1) -> None:
        """Ten questions a page, with ◀ ▶ between pages."""
        index = await self._faq.index(turn.session)
        docs = [d for d in index.documents if d.language == turn.language] or index.documents
        if not docs:
            await self._say(turn, Reply(t("faq_empty", turn.language)))
            return
        pages = -(-len(docs) // _FAQ_LIST_SIZE)
        page = min(max(page, 1), pages)
        shown = docs[(page - 1) * _FAQ_LIST_SIZE : page * _FAQ_LIST_SIZE]
        rows: list[tuple[Button, ...]] = [
            (Button(_label(d.question), FaqEntry(d.entry_id).pack()),) for d in shown
        ]
        title = t("faq_list_title", turn.language)
        if pages > 1:
            title = f"{title} ({page}/{pages})"
            nav = []
            if page > 1:
                nav.append(Button(f"◀ {page - 1}/{pages}", FaqPage(page - 1).pack()))
            if page < pages:
                nav.append(Button(f"{page + 1}/{pages} ▶", FaqPage(page + 1).pack()))
            rows.append(tuple(nav))
        await self._say(turn, Reply(title, buttons=tuple(rows)))

    # Buttons --------------------------------------------------------------------------------

    async def _on_button(self, turn: _Turn, data: str) -> None:
        match decode(data, CUSTOMER_BUTTONS):
            case Menu():
                await self._menu(turn)
            case Hours():
                await self._hours_reply(turn)
            case FaqList():
                await self._faq_list(turn)
            case FaqPage(page=page):
                await self._faq_list(turn, page)
            case FaqEntry(entry_id=entry_id):
                await self._answer_entry(turn, entry_id)
            case Vote(message_id=message_id, helpful=helpful):
                await self._feedback(turn, message_id, helpful == "y")
            case AskPerson() | Complain():
                await self._ask_for_problem(turn)
            case SurveyAnswer(delivery_id=delivery_id, answer=answer):
                await self._survey(turn, delivery_id, answer)
            case CsatScore(ticket_id=ticket_id, score=score):
                await self._csat(turn, ticket_id, score)
            case SendQuestion(message_id=message_id):
                await self._handoff_logged(turn, message_id)
            case LinkStart():
                await self._link(turn, "")
            case LinkAnswer(answer=answer, code=code):
                await self._link_answer(turn, answer, code)
            case Cancel():
                turn.customer.pending_action = None
                await self._menu(turn, t("cancelled", turn.language))
            case _:
                await self._menu(turn, t("unknown_button", turn.language))

    async def _answer_entry(self, turn: _Turn, entry_id: int) -> None:
        entry = (await self._faq.index(turn.session)).get(entry_id)
        if entry is None:
            await self._menu(turn, t("unknown_button", turn.language))
            return
        self._metrics.faq_hits.inc()
        text = f"{entry.answer}\n\n{t('did_it_help', turn.language)}"
        message_id = await self._log_out(turn, f"{entry.question}\n{text}", entry.entry_id)
        # The vote buttons name the logged answer, so a vote counts once per answer however
        # often it is tapped.
        votes = (
            Button(t("btn_yes", turn.language), Vote(message_id, "y").pack()),
            Button(t("btn_no", turn.language), Vote(message_id, "n").pack()),
        )
        turn.replies.append(Reply(text, title=entry.question, buttons=(votes,)))

    async def _feedback(self, turn: _Turn, message_id: int, helpful: bool) -> None:
        log = ConversationLog(turn.session)
        answer = await log.get(message_id)
        if answer is None or answer.customer_id != turn.customer.id or answer.faq_entry_id is None:
            await self._menu(turn, t("unknown_button", turn.language))
            return
        counted = await FaqRepository(turn.session).record_feedback(
            message_id, answer.faq_entry_id, turn.customer.id, helpful
        )
        if not counted:
            await self._say(turn, Reply(t("feedback_already", turn.language)))
        elif helpful:
            await self._say(turn, Reply(t("thanks_feedback", turn.language)))
        else:
            gaps = FaqGaps(turn.session)
            question = await gaps.question_before(turn.customer.id, message_id)
            if question is not None:
                await gaps.record(question, UNHELPFUL, answer.faq_entry_id, self._clock())
            rows = (
                (
                    Button(t("btn_leave_message", turn.language), AskPerson().pack()),
                    Button(t("btn_menu", turn.language), Menu().pack()),
                ),
            )
            await self._say(turn, Reply(t("sorry_feedback", turn.language), buttons=rows))

    async def _handoff_logged(self, turn: _Turn, message_id: int) -> None:
        """Pass a question the FAQ could not answer to a person, without retyping it."""
        question = await ConversationLog(turn.session).get(message_id)
        if (
            question is None
            or question.customer_id != turn.customer.id
            or question.direction != "in"
        ):
            await self._menu(turn, t("unknown_button", turn.language))
            return
        await self._open_ticket(turn, question.text)

    # Text -----------------------------------------------------------------------------------

    async def _on_text(self, turn: _Turn, text: str) -> None:
        text = text.strip()
        if len(text) > self._max_chars:
            too_long = t("too_long", turn.language, length=len(text), limit=self._max_chars)
            await self._say(turn, Reply(too_long))
            return
        pending = turn.customer.pending_action or ""
        if pending.startswith(SURVEY_COMMENT) and text:
            delivery_id = int(pending.removeprefix(SURVEY_COMMENT) or 0)
            reply, effects = await self._surveys.on_comment(
                turn.session, turn.customer, delivery_id, text
            )
            turn.effects.posts.extend(effects.posts)
            await self._say(turn, reply)
            return
        if pending.startswith(CSAT_COMMENT) and text:
            await self._csat_comment(turn, int(pending.removeprefix(CSAT_COMMENT) or 0), text)
            return
        if pending == NEW_TICKET and (text or turn.attachment):
            await self._open_ticket(turn, text)
            return
        # While a ticket is open, whatever the customer writes belongs to it.
        ticket = await self._tickets.open_ticket(turn.session, turn.customer)
        if ticket is not None and (text or turn.attachment):
            reply, effects = await self._tickets.customer_message(
                turn.session, ticket, turn.customer, text, turn.attachment
            )
            turn.effects.posts.extend(effects.posts)
            await self._say(turn, reply)
            return
        if not text:
            await self._say(turn, Reply(t("empty_message", turn.language)))
            return
        found = self._intents.match(text, turn.language) if self._intents else None
        if found is not None:
            await self._on_intent(turn, found.intent, text)
            return
        await self._search(turn, text)

    async def _on_intent(self, turn: _Turn, intent: str, text: str) -> None:
        """What a command would do, asked for in plain words."""
        if intent == "hours":
            await self._hours_reply(turn, text)
        elif intent in ("human", "complaint"):
            await self._ask_for_problem(turn)
        elif intent == "my_tickets":
            await self._my_tickets(turn)
        elif intent == "stop_surveys":
            turn.customer.surveys_opted_out = True
            await self._say(turn, Reply(t("surveys_stopped", turn.language)))
        elif intent == "greeting":
            await self._on_command(turn, "start", "")
        else:  # thanks: answered briefly, not with "I did not find an answer"
            await self._say(turn, Reply(t("thanks_reply", turn.language)))

    async def _on_edit(self, turn: _Turn, text: str) -> None:
        """While a ticket is open, a corrected message reaches staff marked as a correction;
        otherwise the corrected text is answered like a new message."""
        text = text.strip()
        ticket = await self._tickets.open_ticket(turn.session, turn.customer)
        if ticket is not None and text and len(text) <= self._max_chars:
            correction = t("edited_message", turn.language, text=text)
            reply, effects = await self._tickets.customer_message(
                turn.session, ticket, turn.customer, correction, None
            )
            turn.effects.posts.extend(effects.posts)
            await self._say(turn, reply)
        elif text and not text.startswith("/"):
            await self._on_text(turn, text)

    async def _search(self, turn: _Turn, text: str) -> None:
        config = self._faq_config
        matcher = await self._faq.matcher(turn.session)
        ranking = await matcher.rank(text, turn.language, limit=max(config.max_suggestions, 2))
        self._metrics.faq_dense.labels(outcome=ranking.dense).inc()
        if ranking.confident:
            await self._answer_entry(turn, ranking.entries[0].entry_id)
            return
        if ranking.query is not None and self._intents is not None:
            meant = await self._intents.match_meaning(ranking.query, ranking.closest)
            if meant is not None:
                await self._on_intent(turn, meant.intent, text)
                return
        handoff = Button(
            t("btn_send_question", turn.language), f"handoff:{await turn.inbound_id()}"
        )
        suggestions = ranking.suggestions[: config.max_suggestions]
        await FaqGaps(turn.session).record(
            await turn.inbound_id(),
            SUGGESTED if suggestions else UNANSWERED,
            suggestions[0].entry_id if suggestions else None,
            self._clock(),
        )
        if suggestions:
            self._metrics.faq_suggestions.inc()
            rows = tuple(
                (Button(_label(m.question), FaqEntry(m.entry_id).pack()),) for m in suggestions
            )
            await self._say(
                turn, Reply(t("faq_suggest", turn.language), buttons=(*rows, (handoff,)))
            )
            return
        self._metrics.faq_misses.inc()
        menu = Button(t("btn_menu", turn.language), Menu().pack())
        await self._say(turn, Reply(t("faq_no_match", turn.language), buttons=((handoff, menu),)))

    # Tickets -------------------------------------------------------------------------------

    async def _ask_for_problem(self, turn: _Turn) -> None:
        turn.customer.pending_action = NEW_TICKET
        cancel = ((Button(t("btn_cancel", turn.language), Cancel().pack()),),)
        await self._say(turn, Reply(t("complaint_prompt", turn.language), buttons=cancel))

    async def _on_thread(self, turn: _Turn, text: str, thread: int) -> None:
        """A message that is for a person (an email to support): it joins the ticket its
        thread names when that is this customer's and still open, else their open ticket,
        else opens one. A reply in a thread is not acknowledged: the customer sees the ticket
        was opened once, not every message arriving."""
        if not text.strip() and turn.attachment is None and not turn.files:
            return
        named = await TicketRepository(turn.session).get(thread) if thread else None
        if named is not None and (
            named.customer_id != turn.customer.id
            or named.status == "resolved"
            or named.merged_into_id is not None
        ):
            named = None
        ticket = named or await self._tickets.open_ticket(turn.session, turn.customer)
        if ticket is None:
            await self._open_ticket(turn, text)
            return
        _reply, effects = await self._tickets.customer_message(
            turn.session, ticket, turn.customer, text, turn.attachment, turn.files
        )
        turn.effects.posts.extend(effects.posts)

    async def _open_ticket(self, turn: _Turn, text: str) -> None:
        turn.customer.pending_action = None
        existing = await self._tickets.open_ticket(turn.session, turn.customer)
        if existing is not None:
            # One open ticket per customer: a second complaint joins the first.
            reply, effects = await self._tickets.customer_message(
                turn.session, existing, turn.customer, text, turn.attachment, turn.files
            )
        else:
            _, reply, effects = await self._tickets.open(
                turn.session,
                turn.customer,
                turn.channel,
                turn.language,
                text,
                turn.attachment,
                turn.files,
            )
        turn.effects.posts.extend(effects.posts)
        await self._say(turn, reply)

    async def _link(self, turn: _Turn, typed: str) -> None:
        """No code: give one, to type in another channel. A code: this chat joins the
        customer who asked for it."""
        language = turn.language
        if not typed:
            code = await self._linking.new_code(turn.session, turn.customer)
            minutes = int(CODE_TTL.total_seconds() // 60)
            await self._say(turn, Reply(t("link_code", language, code=code, minutes=minutes)))
            return
        result = await self._linking.propose(turn.session, turn.customer, typed)
        if result.outcome is LinkOutcome.PROPOSED and result.customer is not None:
            owner, code = result.customer, result.code
            where = self._whose(owner, language)
            answer = (
                Button(t("btn_link_yes", language), LinkAnswer("yes", code).pack()),
                Button(t("btn_link_no", language), LinkAnswer("no", code).pack()),
            )
            await self._say(turn, Reply(t("link_confirm", language, **where), buttons=(answer,)))
            # The chat that asked for the code hears which chat typed it, and can call it off.
            told = self._whose(turn.customer, owner.language, here=turn.channel)
            stop = (Button(t("btn_link_not_me", owner.language), LinkAnswer("void", code).pack()),)
            notice = t("link_claimed", owner.language, code=formatted(code), **told)
            await self._tell(turn, owner, Reply(notice, buttons=(stop,)))
        elif result.outcome is LinkOutcome.SAME:
            await self._say(turn, Reply(t("link_same", language)))
        else:
            await self._say(turn, Reply(t("link_invalid", language)))

    async def _link_answer(self, turn: _Turn, answer: str, code: str) -> None:
        """The typer's yes or no, or the code owner's "not me"."""
        language, linking = turn.language, self._linking
        if answer == "no":
            declined = await linking.decline(turn.session, turn.customer, code)
            await self._say(
                turn, Reply(t("link_declined" if declined else "link_invalid", language))
            )
            return
        if answer == "void":
            voided = await linking.call_off(turn.session, turn.customer, code)
            await self._say(
                turn, Reply(t("link_called_off" if voided else "link_invalid", language))
            )
            return
        result = await linking.confirm(turn.session, turn.customer, code, turn.channel)
        if result.outcome is not LinkOutcome.LINKED or result.customer is None:
            key = "link_same" if result.outcome is LinkOutcome.SAME else "link_invalid"
            await self._say(turn, Reply(t(key, language)))
            return
        owner = turn.customer = result.customer
        if turn.inbound is not None:  # the message that linked is the merged history's
            turn.inbound["customer_id"] = owner.id
        if result.effects is not None:
            turn.effects.posts.extend(result.effects.posts)
        await self._say(turn, Reply(t("link_done", language)))
        where = channel_word(turn.channel, language)
        await self._tell(turn, owner, Reply(t("link_joined_other", language, where=where)))

    @staticmethod
    def _whose(customer: Customer, language: str, here: str | None = None) -> dict[str, str]:
        """The chat a customer is in, in words ("Telegram", " (Anna)") for a link message."""
        channel = here or customer.last_channel
        name = customer.display_name.strip()[:64]
        return {"where": channel_word(channel, language), "name": f" ({name})" if name else ""}

    async def _tell(self, turn: _Turn, customer: Customer, reply: Reply) -> None:
        """A message to a customer's other chat (where they wrote last), through the outbox."""
        repository = CustomerRepository(turn.session)
        channels = [customer.last_channel, *await repository.channels(customer.id)]
        for channel in dict.fromkeys(c for c in channels if c and c != turn.channel):
            external_id = await repository.external_id(customer.id, channel)
            if external_id is not None:
                turn.effects.posts.append((channel, external_id, reply))
                return

    async def _my_tickets(self, turn: _Turn) -> None:
        tickets = await TicketRepository(turn.session).for_customer(turn.customer.id)
        if not tickets:
            await self._say(turn, Reply(t("my_tickets_none", turn.language)))
            return
        lines = [t("my_tickets_title", turn.language)]
        for ticket in tickets:
            status = t(f"status_{ticket.status}", turn.language)
            lines.append(f"#{ticket.id} · {status} · {ticket.subject[:60]}")
        await self._say(turn, Reply("\n".join(lines)))

    async def _csat(self, turn: _Turn, ticket_id: int, score: int) -> None:
        ticket = await TicketRepository(turn.session).get(ticket_id)
        if ticket is None or ticket.customer_id != turn.customer.id:
            await self._menu(turn, t("unknown_button", turn.language))
            return
        reply, effects = await self._tickets.record_csat(turn.session, ticket, turn.customer, score)
        turn.effects.posts.extend(effects.posts)
        await self._say(turn, reply)

    async def _survey(self, turn: _Turn, delivery_id: int, action: str) -> None:
        answer = await self._surveys.on_button(turn.session, turn.customer, delivery_id, action)
        if answer is None:
            await self._menu(turn, t("unknown_button", turn.language))
            return
        turn.effects.posts.extend(answer.effects.posts)
        for reply in answer.replies:
            await self._say(turn, reply)

    async def _csat_comment(self, turn: _Turn, ticket_id: int, text: str) -> None:
        turn.customer.pending_action = None
        ticket = await TicketRepository(turn.session).get(ticket_id)
        if ticket is None or ticket.customer_id != turn.customer.id:
            await self._search(turn, text)
            return
        reply, effects = await self._tickets.record_csat_comment(
            turn.session, ticket, turn.customer, text
        )
        turn.effects.posts.extend(effects.posts)
        await self._say(turn, reply)


def _command_argument(text: str) -> str:
    """What follows the command word: "/complaint@OtklikBot it broke" -> "it broke"."""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def _label(question: str, limit: int = 60) -> str:
    return cut(question, limit)
