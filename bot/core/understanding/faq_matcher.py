"""FAQ matching: Snowball stems, BM25 ranking, rapidfuzz for typos.

The index is derived data, rebuilt from SQL whenever the FAQ changes; it is pure and knows
nothing of channels or sessions, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from rapidfuzz import fuzz, process

_WORD = re.compile(r"[a-zа-я0-9]+")
_K1 = 1.2
_B = 0.75
_FIELD_WEIGHTS = {"question": 3, "keywords": 2, "answer": 1}
_FUZZY_CUTOFF = 78.0
_MIN_FUZZY_LEN = 4
_RESOLVED_LIMIT = 20_000  # query words remembered per index (typo lookups are the slow part)
# The work one question may cost: a question is short, and a long message (a complaint, a
# flood) is matched on its beginning. Each unknown word costs a fuzzy pass over the vocabulary.
MAX_QUERY_CHARS = 600
MAX_QUERY_WORDS = 40

_STOPWORDS_TEXT = """
a an the and or but if of to in on at by for with from as is are was were be been being do
does did have has had i me my we our you your he she it its they them this that these those
what which who whom how can could would should will shall may might must not no yes please
hi hello there any some am so about just get got и в во не что он на я с со как а то все она
так его но да ты к у же вы за бы по только ее мне было вот от меня еще нет о из ему теперь
когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять уж вам ведь там
потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтобы без
будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь
этом один почти мой тем чтоб нее сейчас были куда зачем всех никогда можно при наконец два
об другой хоть после над больше тот через эти нас про всего них какая много разве три эту
моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда
конечно всю между здравствуйте привет подскажите скажите пожалуйста добрый день вечер утро
хочу хотел хотела
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def is_stop_word(word: str) -> bool:
    """A word the ranking ignores (lower-case, ё folded)."""
    return word in _STOPWORDS


_STEMMERS = {
    "ru": snowballstemmer.stemmer("russian"),
    "en": snowballstemmer.stemmer("english"),
}


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    language = "ru" if "а" <= word[0] <= "я" or any("а" <= c <= "я" for c in word) else "en"
    return str(_STEMMERS[language].stemWord(word))


def stem(word: str) -> str:
    """A lower-case word's stem, by its own script (Russian or English Snowball)."""
    return _stem(word)


def words_of(text: str) -> list[str]:
    """Lower-case words, ё folded, stop words dropped (what is stemmed)."""
    return _words(text)


def _words(text: str) -> list[str]:
    """Lower-case words, ё folded, stop words dropped."""
    return [w for w in _WORD.findall(text.lower().replace("ё", "е")) if w not in _STOPWORDS]


def tokenize(text: str) -> list[str]:
    """Lower-case, fold ё, drop stop words, stem each word by its own script."""
    return [_stem(word) for word in _words(text)]


# How a question asks rather than what it asks about: its price, amount, duration or way.
# Ranking weighs them like any word; only they shared with an entry do not make it the answer
# (FaqIndex.explains_subject).
_FRAME_TEXT = """
сколько скока стоит стоят стоить стоимость цена цены цену почем долго быстро нужно нужен
нужна надо бывает вообще сделать делать узнать
much many cost costs price prices long need possible way know make
"""
_FRAME_WORDS = frozenset(_FRAME_TEXT.split())
_VOWELS = frozenset("аеиоуыэюяaeiouy")


def _kind(letter: str) -> str:
    return "" if not letter else "vowel" if letter in _VOWELS else letter if letter in "ьъ" else "c"


def _same_kind(word: str, other: str, stem: str) -> bool:
    """Two words cut to one stem are forms of one word when what follows the stem starts
    alike: nothing or a vowel on both sides ("цена"/"цены", "заказ"/"заказу"), or the same
    letter; not a soft sign against a vowel ("платье"/"платить")."""
    if not (word.startswith(stem) and other.startswith(stem)):
        return True  # the stemmer changed the word itself: no ending to compare
    left, right = _kind(word[len(stem) : len(stem) + 1]), _kind(other[len(stem) : len(stem) + 1])
    return left == right or {left, right} == {"", "vowel"}


@dataclass(frozen=True)
class FaqDocument:
    entry_id: int
    language: str
    question: str
    keywords: str
    answer: str
    slug: str = ""  # an entry's language versions share it


@dataclass(frozen=True)
class FaqMatch:
    entry_id: int
    question: str
    score: float  # 0..1: the share of the query's weight that the entry explains


class FaqIndex:
    def __init__(self, documents: Iterable[FaqDocument]) -> None:
        self.documents = list(documents)
        self._by_id = {doc.entry_id: doc for doc in self.documents}
        self._positions = {doc.entry_id: position for position, doc in enumerate(self.documents)}
        self._by_slug: dict[str, dict[str, int]] = {}
        for position, doc in enumerate(self.documents):
            if doc.slug:
                self._by_slug.setdefault(doc.slug, {})[doc.language] = position
        self._term_freqs: list[Counter[str]] = []
        self._lengths: list[int] = []
        self._questions: list[str] = []
        # Per entry: term -> the words of the entry it was cut from (see explains_subject).
        self._surfaces: list[dict[str, set[str]]] = []
        for doc in self.documents:
            bag: Counter[str] = Counter()
            surfaces: dict[str, set[str]] = {}
            for field_name, weight in _FIELD_WEIGHTS.items():
                for word in _words(getattr(doc, field_name)):
                    token = _stem(word)
                    bag[token] += weight
                    surfaces.setdefault(token, set()).add(word)
            self._term_freqs.append(bag)
            self._surfaces.append(surfaces)
            self._lengths.append(sum(bag.values()))
            self._questions.append(doc.question.lower().replace("ё", "е"))
        count = len(self.documents)
        self._avg_length = sum(self._lengths) / count if count else 0.0
        document_freq: Counter[str] = Counter()
        for bag in self._term_freqs:
            document_freq.update(bag.keys())
        self._idf = {
            term: math.log(1 + (count - df + 0.5) / (df + 0.5))
            for term, df in document_freq.items()
        }
        self._vocabulary = list(self._idf)
        self._max_idf = max(self._idf.values(), default=1.0)
        # term -> (document position, weighted term frequency): a question is scored only
        # against the entries that share a term with it.
        self._postings: dict[str, list[tuple[int, int]]] = {}
        for position, bag in enumerate(self._term_freqs):
            for term, tf in bag.items():
                self._postings.setdefault(term, []).append((position, tf))
        self._resolved: dict[str, tuple[str | None, float]] = {}

    def __len__(self) -> int:
        return len(self.documents)

    def get(self, entry_id: int) -> FaqDocument | None:
        return self._by_id.get(entry_id)

    def position(self, entry_id: int) -> int:
        return self._positions[entry_id]

    def slug_positions(self, slug: str) -> dict[str, int]:
        """The positions of an entry's language versions, by language."""
        return self._by_slug.get(slug, {})

    def _resolve(self, token: str) -> tuple[str | None, float]:
        """Map a query token to a vocabulary term, tolerating typos; returns (term, certainty)."""
        if token in self._idf:
            return token, 1.0
        found = self._resolved.get(token)
        if found is None:
            if len(self._resolved) >= _RESOLVED_LIMIT:
                self._resolved.clear()
            found = self._resolved[token] = self._closest(token)
        return found

    def _closest(self, token: str) -> tuple[str | None, float]:
        if len(token) < _MIN_FUZZY_LEN or not self._vocabulary:
            return None, 0.0
        found = process.extractOne(
            token, self._vocabulary, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF
        )
        if found is None:
            return None, 0.0
        return str(found[0]), float(found[1]) / 100.0

    def explains_subject(self, text: str, entry_id: int) -> bool:
        """Whether this entry (any of its language versions) shares with the question a word
        that says what the question is about, not only how it asks: "сколько стоит диван?"
        shares "сколько стоит" with the delivery-cost entry and nothing else, so it is not
        answered outright by it (it may still be offered). A word counts by its stem, as in
        ranking, but a stem shared by words of different kinds is not a match: Snowball cuts
        "платье" (a dress) and "платить" (to pay) both to "плат", and the letters after the
        stem ("ье", "ить") tell them apart. A typo of an entry's word counts."""
        doc = self._by_id.get(entry_id)
        if doc is None:
            return False
        positions = [self._positions[entry_id]]
        if doc.slug:
            positions = list(self.slug_positions(doc.slug).values()) or positions
        for word in _WORD.findall(text[:MAX_QUERY_CHARS].lower().replace("ё", "е")):
            if word in _STOPWORDS or word in _FRAME_WORDS or word.isdigit():
                continue
            stem = _stem(word)
            term, _certainty = self._resolve(stem)
            if term is None:
                continue
            for position in positions:
                surfaces = self._surfaces[position].get(term)
                if surfaces is None:
                    continue
                if term != stem or any(_same_kind(word, other, term) for other in surfaces):
                    return True
        return False

    def search(self, text: str, language: str | None = None, limit: int = 3) -> list[FaqMatch]:
        """Rank entries for a question; entries in `language` come first when it is given."""
        text = text[:MAX_QUERY_CHARS]
        tokens = tokenize(text)[:MAX_QUERY_WORDS]
        if not tokens or not self.documents:
            return []
        query: dict[str, float] = {}
        ceiling = 0.0
        for token in tokens:
            term, certainty = self._resolve(token)
            if term is None:
                # An unknown word still counts in the ceiling: the more of the question we do not
                # recognise, the less sure the answer.
                ceiling += self._max_idf * 0.5
                continue
            query[term] = max(query.get(term, 0.0), certainty)
        # A word known only through a typo lookup explains just its certainty's share of its
        # weight: "выходных" is 80 % like "вход", which is not 100 % of a password question.
        for term in query:
            ceiling += self._idf[term]
        if ceiling <= 0:
            return []
        totals: dict[int, float] = {}
        for term, certainty in query.items():
            weight = self._idf[term] * certainty
            for position, tf in self._postings[term]:
                if language is not None and self.documents[position].language != language:
                    continue
                norm = _K1 * (1 - _B + _B * self._lengths[position] / self._avg_length)
                saturation = tf * (_K1 + 1) / (tf + norm) / (_K1 + 1)
                totals[position] = totals.get(position, 0.0) + weight * saturation
        lowered = text.lower()
        scored: list[tuple[float, int]] = []
        for position, total in totals.items():
            lexical = total / ceiling
            similarity = fuzz.token_set_ratio(lowered, self._questions[position]) / 100
            scored.append((0.85 * lexical + 0.15 * similarity, position))
        if not scored and language is not None:
            return self.search(text, None, limit)
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [
            FaqMatch(self.documents[pos].entry_id, self.documents[pos].question, round(score, 4))
            for score, pos in scored[:limit]
        ]
