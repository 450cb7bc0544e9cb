"""Built-in intents in plain words: "во сколько вы открываетесь?", "позовите оператора",
"спасибо". Their phrasings live in data files (`data/intents.yaml` beside this module, plus an
admin's own file) and are matched by the FAQ's own lexical ranking, so typos and word forms are
forgiven the same way. An intent wins only when it explains the whole message, or one part of
it ("зуб болит, вы сегодня работаете?"): "спасибо, а когда доставка?" is still a question for
the FAQ. With the dense model, a message the FAQ cannot answer is also compared by meaning with
the phrasings ("хочу поговорить с живым человеком" ~ "позовите оператора"), using the vector
the FAQ pass already made: it is the intent when it is close to a phrasing and clearly closer
to it than to another intent's, or nearly as close and clearly closer than to any FAQ entry."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bot.config import ConfigError, FaqConfig, SemanticConfig
from bot.core.hours_text import is_day_word
from bot.core.understanding.faq_matcher import FaqDocument, FaqIndex, is_stop_word, tokenize
from bot.core.understanding.language import SUPPORTED
from bot.core.understanding.semantic import QUERY, Embedder, Vector

INTENTS = (
    "hours",
    "human",
    "complaint",
    "my_tickets",
    "stop_surveys",
    "greeting",
    "thanks",
)
# A phrasing must explain most of the message, and beat the other intents clearly.
CONFIDENT_SCORE = 0.6
CONFIDENT_MARGIN = 0.15
# A short message made only of one intent's words (and these) is that intent: "ну привет",
# "ok thanks a lot". Greetings are stop words to the ranking, so this is how they are heard.
FILLER = frozenset(
    {
        *("а", "ну", "ок", "окей", "ладно", "да", "и", "там", "вам", "вас", "вы", "мне", "я"),
        *("so", "ok", "okay", "oh", "well", "yes", "there", "a", "lot", "very", "much"),
        *("you", "u", "guys", "all"),
    }
)
MAX_COVER_WORDS = 6
_WORD = re.compile(r"[^\W_]+")
# A message of several parts ("зуб болит, вы сегодня работаете?") is an intent when one part
# is wholly that intent. Greetings and thanks open or close a question rather than ask.
_PARTS = re.compile(r"[,.;:!?]+")
_SOCIAL = frozenset({"greeting", "thanks"})
_FOR_A_PERSON = frozenset({"human", "complaint"})  # both ask for a person: one request


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("ё", "е"))


class IntentFileError(ValueError):
    """A problem in an intents file, named with the intent and language it is in."""


@dataclass(frozen=True)
class Phrasing:
    intent: str
    language: str
    text: str


def parse_intents(text: str, source: str) -> list[Phrasing]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise IntentFileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise IntentFileError(f"{source}: expected a mapping of intent names")
    phrasings = []
    for intent, block in data.items():
        if intent not in INTENTS:
            raise IntentFileError(
                f"{source}: unknown intent {intent!r} (one of {', '.join(INTENTS)})"
            )
        if not isinstance(block, dict):
            raise IntentFileError(f"{source}: {intent}: expected ru: [...] and/or en: [...]")
        for language, texts in block.items():
            if language not in SUPPORTED or not isinstance(texts, list):
                raise IntentFileError(f"{source}: {intent}.{language}: expected ru or en: [...]")
            for phrase in texts:
                if not isinstance(phrase, str) or not phrase.strip() or len(phrase) > 200:
                    raise IntentFileError(f"{source}: {intent}.{language}: {phrase!r}")
                phrasings.append(Phrasing(intent, language, phrase.strip()))
    return phrasings


def builtin_phrasings() -> list[Phrasing]:
    text = (
        resources.files("bot.core.understanding")
        .joinpath("data/intents.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_intents(text, "bot/core/understanding/data/intents.yaml")


def load_phrasings(extra: Path | None = None) -> list[Phrasing]:
    """The built-in phrasings and, when given, an admin's file with more."""
    phrasings = builtin_phrasings()
    if extra is not None:
        try:
            text = extra.read_text(encoding="utf-8")
        except OSError as exc:
            raise IntentFileError(f"{extra}: cannot read: {exc.strerror}") from None
        phrasings += parse_intents(text, str(extra))
    return phrasings


@dataclass(frozen=True)
class IntentMatch:
    intent: str
    score: float
    phrasing: str


class IntentMatcher:
    def __init__(
        self,
        phrasings: list[Phrasing],
        embedder: Embedder | None = None,
        semantic: SemanticConfig | None = None,
    ) -> None:
        self._phrasings = phrasings
        self._embedder = embedder
        self._semantic = semantic or SemanticConfig()
        self._vectors: Vector | None = None
        self._vectors_lock = threading.Lock()
        self._index = FaqIndex(
            FaqDocument(number, p.language, p.text, "", "") for number, p in enumerate(phrasings)
        )
        self._exact = {" ".join(words(p.text)): p for p in phrasings}
        self._vocabulary: dict[str, set[str]] = {}
        for p in phrasings:
            self._vocabulary.setdefault(p.intent, set()).update(words(p.text))
        # The words that say which intent it is: found in one intent only, and not filler. A
        # stop word says so only for a greeting, which is made of them ("что на выходных" is
        # not "что с моим обращением").
        seen: dict[str, int] = {}
        for vocabulary in self._vocabulary.values():
            for word in vocabulary:
                seen[word] = seen.get(word, 0) + 1
        self._signals = {
            intent: {
                w
                for w in vocabulary
                if seen[w] == 1
                and w not in FILLER
                and len(w) >= 2
                and (intent == "greeting" or not is_stop_word(w))
            }
            for intent, vocabulary in self._vocabulary.items()
        }

    def match(self, text: str, language: str | None = None) -> IntentMatch | None:
        """The intent the whole message asks for, or that one of its parts asks for (when
        no other part asks for another), or None."""
        found = self._match_whole(text, language)
        if found is not None:
            return found
        parts = [part for part in _PARTS.split(text[:400]) if words(part)]
        if len(parts) < 2:
            return None
        heard = [
            match
            for part in parts
            if (match := self._match_whole(part, language)) is not None
            and match.intent not in _SOCIAL
        ]
        intents = {match.intent for match in heard}
        return heard[0] if len(intents) == 1 or intents == _FOR_A_PERSON else None

    def _match_whole(self, text: str, language: str | None) -> IntentMatch | None:
        # Which day is asked about is the hours intent's parameter, not part of its phrasing:
        # "во сколько вы работаете в субботу" is matched as "во сколько вы работаете в".
        all_words = words(text[:400])
        said = [w for w in all_words if not is_day_word(w)]
        if not said:
            return None
        if len(said) < len(all_words):
            text = " ".join(said)
        exact = self._exact.get(" ".join(said))
        if exact is not None:
            return IntentMatch(exact.intent, 1.0, exact.text)
        if len(said) <= MAX_COVER_WORDS:
            covering = [
                intent
                for intent, vocabulary in self._vocabulary.items()
                if all(w in vocabulary or w in FILLER for w in said)
                and any(w in self._signals[intent] for w in said)
            ]
            if len(covering) == 1:
                return IntentMatch(covering[0], 0.9, " ".join(said))
        found = self._index.search(text, language, limit=10)
        if not found:
            return None
        best = found[0]
        intent = self._phrasings[best.entry_id].intent
        rival = max(
            (m.score for m in found[1:] if self._phrasings[m.entry_id].intent != intent),
            default=0.0,
        )
        if best.score < CONFIDENT_SCORE or best.score - rival < CONFIDENT_MARGIN:
            return None
        # Typo tolerance must not make an intent of a look-alike word alone ("доставка будет?"
        # is not "оставить жалобу"): half the message's stems must be the phrasing's own.
        asked, phrasing = set(tokenize(text)), set(tokenize(self._phrasings[best.entry_id].text))
        if len(asked & phrasing) * 2 < len(asked):
            return None
        return IntentMatch(intent, best.score, self._phrasings[best.entry_id].text)

    def embed_phrasings(self) -> None:
        """The phrasings' vectors, made once (a second or two for the built-in ones with a
        cold model); blocking, so the app calls it off the event loop at start-up."""
        with self._vectors_lock:
            if self._vectors is None and self._embedder is not None:
                texts = [p.text for p in self._phrasings]
                self._vectors = self._embedder.embed(texts, QUERY)

    def closest(self, query: Vector) -> tuple[IntentMatch, float] | None:
        """The intent whose phrasing is closest to a question's vector (its cosine the score)
        and its lead over the next intent; None without vectors."""
        if self._vectors is None or not self._phrasings:
            return None
        best: dict[str, tuple[float, int]] = {}
        for number, score in enumerate(self._vectors @ query):
            intent = self._phrasings[number].intent
            if intent not in best or score > best[intent][0]:
                best[intent] = (float(score), number)
        ranked = sorted(best.values(), reverse=True)
        top, number = ranked[0]
        lead = top - ranked[1][0] if len(ranked) > 1 else top
        phrasing = self._phrasings[number]
        return IntentMatch(phrasing.intent, round(top, 4), phrasing.text), lead

    async def match_meaning(
        self, query: Vector, faq_closest: float | None = None
    ) -> IntentMatch | None:
        """The intent a question's vector means, or None: its best phrasing close enough and
        clearly closer than any other intent's, or nearly as close while clearly closer than
        the FAQ's nearest entry (`faq_closest`, that entry's cosine)."""
        if self._embedder is None:
            return None
        if self._vectors is None:
            await asyncio.to_thread(self.embed_phrasings)
        found = self.closest(query)
        if found is None:
            return None
        match, lead = found
        return match if means(match.score, lead, faq_closest, self._semantic) else None

    def competing(self, questions: dict[Any, str]) -> list[tuple[Any, IntentMatch]]:
        """FAQ entries whose own question reads as an intent: the intent would answer it."""
        found = []
        for key, question in questions.items():
            match = self.match(question)
            if match is not None:
                found.append((key, match))
        return found


def means(cosine: float, lead: float, faq_closest: float | None, semantic: SemanticConfig) -> bool:
    """Whether an intent whose best phrasing is at `cosine` from a message, `lead` ahead of
    the next intent's, is what the message means. The thresholds were chosen on
    tests/data/intents_tune.txt by bench/understanding.py."""
    if cosine >= semantic.intent_score and lead >= semantic.intent_margin:
        return True
    return (
        faq_closest is not None
        and lead > 0
        and cosine >= semantic.intent_near_score
        and cosine - faq_closest >= semantic.intent_faq_lead
    )


def matcher_for(config: FaqConfig, embedder: Embedder | None = None) -> IntentMatcher:
    """The built-in phrasings and the admin's `[faq] intents_file`; a bad file stops the
    start with the reason. With an embedder, intents are matched by meaning too."""
    extra = Path(config.intents_file) if config.intents_file else None
    try:
        return IntentMatcher(load_phrasings(extra), embedder, config.semantic)
    except IntentFileError as exc:
        raise ConfigError(f"faq.intents_file: {exc}") from None
