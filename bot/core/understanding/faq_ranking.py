"""What the bot does with a question: the FAQ entries ranked, and whether the best one is
sure enough to answer outright.

Lexical first (under a millisecond); when it is not sure and a dense index exists, the
question's meaning is compared too (about 20 ms, off the event loop) and the two scores are
blended. An entry's language versions rank as one entry, shown in the customer's language
where it has one, else in its own: that is how a question finds an entry written only in the
other language. A question asked again in the same words is answered from memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.config import FaqConfig, SemanticConfig
from bot.core.understanding.faq_matcher import FaqIndex
from bot.core.understanding.recent_questions import RecentQuestions
from bot.core.understanding.semantic import DenseIndex, Vector

# Longer messages skip the dense pass: they are complaints and stories rather than FAQ
# questions, and the model's cost grows with length (a flood of long messages must not queue
# everyone else's questions behind one model).
MAX_DENSE_CHARS = 300
LEXICAL = "lexical"
HYBRID = "hybrid"
# Why a question took the dense pass or not (the otklik_faq_dense_total metric's label).
DENSE_RAN = "ran"
DENSE_OFF = "off"  # no model
WORDS_SURE = "words_sure"
TOO_LONG = "too_long"
OVER_BUDGET = "over_budget"
RECALLED = "recalled"  # the same wording was asked recently: its vector came from memory
RANKINGS_KEPT = 2048  # per matcher: questions asked in the same words again cost a lookup


@dataclass(frozen=True)
class RankedEntry:
    entry_id: int
    question: str
    score: float  # the score the decision was made on (lexical or hybrid)
    lexical: float
    dense: float | None  # cosine similarity, None when the dense pass did not run


@dataclass(frozen=True)
class Ranking:
    entries: list[RankedEntry]
    confident: bool  # the first entry is answered outright
    method: str  # LEXICAL or HYBRID: which thresholds decided
    # Offered as buttons when the first is not answered outright; none when the question
    # does not seem to be about the business at all (then: "I don't know" and a person).
    suggestions: list[RankedEntry]
    query: Vector | None = None  # the question's vector, when the dense pass ran
    dense: str = DENSE_OFF  # DENSE_RAN, or why it did not run
    closest: float | None = None  # the nearest entry's cosine, when the dense pass ran


def is_sure(scores: list[float], score: float, margin: float) -> bool:
    """The best of these scores (highest first) is high enough and far enough ahead."""
    best = scores[0] if scores else 0.0
    second = scores[1] if len(scores) > 1 else 0.0
    return best >= score and best - second >= margin


def blend(
    lexical: float, cosine: float, semantic: SemanticConfig, same_language: bool = True
) -> float:
    """The hybrid score: the cosine (which this model keeps in a narrow band) mapped onto
    0..1, then weighed with the lexical score. An entry with no version in the question's
    language cannot share words with it, so there the meaning is all there is to go on."""
    dense = min(1.0, max(0.0, (cosine - semantic.floor) / (semantic.ceiling - semantic.floor)))
    if not same_language:
        return dense
    return semantic.weight * lexical + (1 - semantic.weight) * dense


class DenseGate:
    """A budget of dense passes a second (each about 20 ms of one core): beyond it a question
    is answered by words alone, so a burst costs the webhook path the budget at most and the
    bot stays fast, answering a little less well until the burst passes."""

    def __init__(self, per_second: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._monotonic = monotonic
        self._tokens = per_second  # a second's worth to start with
        self._at = monotonic()
        self.shed = 0  # questions answered by words because the budget was spent

    def take(self) -> bool:
        if self.per_second <= 0:
            return True  # no budget set: every unsure question gets the dense pass
        now = self._monotonic()
        self._tokens = min(self.per_second, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.shed += 1
        return False


class FaqMatcher:
    def __init__(
        self,
        index: FaqIndex,
        dense: DenseIndex | None,
        config: FaqConfig,
        gate: DenseGate | None = None,
        recent: RecentQuestions | None = None,
    ) -> None:
        self.index = index
        self.dense = dense
        self._config = config
        self._gate = gate or DenseGate(config.semantic.max_per_second)
        self._recent = recent or RecentQuestions()
        # Rankings of questions asked in the same words before, by a hash of the words: this
        # matcher's FAQ never changes (an edit builds a new matcher), so neither do they.
        self._ranked: OrderedDict[bytes, Ranking] = OrderedDict()

    @property
    def method(self) -> str:
        return HYBRID if self.dense is not None else LEXICAL

    def _representative(self, position: int, language: str | None) -> int:
        """The version of this entry in the customer's language, if it has one."""
        doc = self.index.documents[position]
        if language is None or doc.language == language or not doc.slug:
            return position
        return self.index.slug_positions(doc.slug).get(language, position)

    async def rank(self, text: str, language: str | None, limit: int = 3) -> Ranking:
        key = hashlib.blake2b(f"{language}\n{limit}\n{text}".encode(), digest_size=16).digest()
        known = self._ranked.get(key)
        if known is not None:
            self._ranked.move_to_end(key)
            return known
        ranking = await self._rank(text, language, limit)
        if ranking.dense != OVER_BUDGET:  # a complete ranking: the same next time
            again = RECALLED if ranking.dense == DENSE_RAN else ranking.dense
            self._ranked[key] = replace(ranking, dense=again)
            while len(self._ranked) > RANKINGS_KEPT:
                self._ranked.popitem(last=False)
        return ranking

    def _lexical(self, text: str, language: str | None) -> dict[str, tuple[float, int]]:
        """Each entry (by slug: its languages count as one) with its best lexical score and
        that version's position."""
        documents = self.index.documents
        lexical: dict[str, tuple[float, int]] = {}
        for match in self.index.search(text, language, limit=len(documents) or 1):
            position = self.index.position(match.entry_id)
            key = documents[position].slug or str(match.entry_id)
            if key not in lexical or match.score > lexical[key][0]:
                lexical[key] = (match.score, position)
        return lexical

    async def _rank(self, text: str, language: str | None, limit: int) -> Ranking:
        config = self._config
        documents = self.index.documents
        lexical = self._lexical(text, language)
        ordered = sorted(lexical.items(), key=lambda item: -item[1][0])
        lexical_scores = [score for _, (score, _) in ordered]
        semantic = config.semantic
        model = self.dense.embedder.model if self.dense is not None else ""
        known = None
        skipped = (
            DENSE_OFF
            if self.dense is None
            else TOO_LONG
            if len(text) > MAX_DENSE_CHARS
            else WORDS_SURE
            if is_sure(lexical_scores, semantic.shortcut_score, semantic.shortcut_margin)
            else None
        )
        fresh = False
        if skipped is None:
            known, fresh = self._recent.get(model, text)
            if known is None and not self._gate.take():
                skipped = OVER_BUDGET
        if skipped is not None or self.dense is None:
            entries = [
                self._entry(position, language, score, score, None)
                for _, (score, position) in ordered[:limit]
            ]
            sure = is_sure(lexical_scores, config.confident_score, config.confident_margin)
            sure = sure and self._explained(text, entries, language)
            offered = [
                e for e in entries[: config.max_suggestions] if e.score >= config.suggest_score
            ]
            return Ranking(entries, sure, LEXICAL, offered, None, skipped or DENSE_OFF)
        query = known
        if query is None:
            query = await asyncio.to_thread(self.dense.query_vector, text)
            self._recent.put(model, text, query)
        similarities = self.dense.similarities_to(query, len(documents))
        blended: dict[str, tuple[float, int, float]] = {}  # key -> hybrid, position, cosine
        for position, doc in enumerate(documents):
            key = doc.slug or str(doc.entry_id)
            cosine = float(similarities[position])
            if key in blended and cosine <= blended[key][2]:
                continue
            same_language = (
                language is None
                or doc.language == language
                or language in self.index.slug_positions(doc.slug)
            )
            score = blend(lexical.get(key, (0.0, position))[0], cosine, semantic, same_language)
            blended[key] = (score, position, cosine)
        ranked = sorted(blended.items(), key=lambda item: -item[1][0])
        entries = [
            self._entry(position, language, score, lexical.get(key, (0.0, 0))[0], cosine)
            for key, (score, position, cosine) in ranked[:limit]
        ]
        sure = is_sure(
            [score for _, (score, _, _) in ranked],
            semantic.confident_score,
            semantic.confident_margin,
        ) and self._explained(text, entries, language)
        ran = DENSE_RAN if known is None or fresh else RECALLED
        offered = entries[: config.max_suggestions]
        if not self._in_scope(text, offered, language):
            offered = []
        closest = max((cosine for _, _, cosine in blended.values()), default=None)
        return Ranking(entries, sure, HYBRID, offered, query, ran, closest)

    def needs_meaning(self, text: str) -> bool:
        """Whether `text` would take the dense pass (words alone not sure, in any language)
        and its vector is not known yet."""
        if self.dense is None or not text or len(text) > MAX_DENSE_CHARS:
            return False
        if self._recent.has(self.dense.embedder.model, text):
            return False
        semantic = self._config.semantic
        scores = sorted((score for score, _ in self._lexical(text, None).values()), reverse=True)
        return not is_sure(scores, semantic.shortcut_score, semantic.shortcut_margin)

    async def prepare(self, texts: list[str]) -> int:
        """Before the handling transaction: the vectors of the questions among `texts` that
        will need the dense pass, in one model call off the event loop, so that in the
        transaction each is ranked by meaning without waiting or spending the budget. Returns
        how many were computed."""
        if self.dense is None:
            return 0
        wanted = list(dict.fromkeys(t for t in texts if self.needs_meaning(t)))
        if not wanted:
            return 0
        vectors = await asyncio.to_thread(self.dense.query_vectors, wanted)
        model = self.dense.embedder.model
        for text, vector in zip(wanted, vectors, strict=True):
            self._recent.put(model, text, vector, fresh=True)
        return len(wanted)

    def _explained(self, text: str, entries: list[RankedEntry], language: str | None) -> bool:
        """The best entry shares a word the question is about."""
        return bool(entries) and self._grounds(text, entries[0], language)

    def _grounds(self, text: str, entry: RankedEntry, language: str | None) -> bool:
        """The entry shares a word the question is about (FaqIndex.explains_subject). An
        entry with no version in the question's language cannot share words with it: its
        meaning alone decided, as in `blend`."""
        doc = self.index.get(entry.entry_id)
        if doc is not None and language is not None and doc.language != language:
            return True
        return self.index.explains_subject(text, entry.entry_id)

    def _in_scope(self, text: str, offered: list[RankedEntry], language: str | None) -> bool:
        """Whether a question the bot is not sure of is still about this business, so that
        its best entries are worth a tap: the best scores high, or fairly high while one of
        them shares a word the question is about. "пауза абонемента" at a gym is offered the
        freeze entry among three; "сколько стоит пластика носа" at a dental clinic, which
        shares only "сколько стоит" with it, is not. Set on labelled set A
        (bench/understanding.py)."""
        if not offered:
            return False
        semantic = self._config.semantic
        best = offered[0].score
        if best >= semantic.scope_score:
            return True
        return best >= semantic.grounded_scope_score and any(
            self._grounds(text, entry, language) for entry in offered
        )

    def _entry(
        self, position: int, language: str | None, score: float, lexical: float, dense: float | None
    ) -> RankedEntry:
        shown = self.index.documents[self._representative(position, language)]
        return RankedEntry(
            shown.entry_id,
            shown.question,
            round(score, 4),
            round(lexical, 4),
            None if dense is None else round(dense, 4),
        )
