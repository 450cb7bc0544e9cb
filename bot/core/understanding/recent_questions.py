"""The vectors of recently asked questions, by a hash of their text.

Repeated wording is common (the same "do you deliver to Kazan?" from many customers after a
campaign, a button's text typed again, a customer asking twice): its vector comes from here,
costing microseconds instead of the model's ~20 ms of a core, and it does not spend the dense
budget (`DenseGate`), so a burst of familiar questions is understood as fully as a quiet hour.
Bounded and in memory only; the texts themselves are not kept, only a hash of each.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from bot.core.understanding.semantic import Vector

LIMIT = 4096  # questions remembered (384 floats each: about 6 MB)


class RecentQuestions:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._vectors: OrderedDict[bytes, Vector] = OrderedDict()
        self._fresh: set[bytes] = set()  # computed ahead (FaqMatcher.prepare), not yet asked
        self._lock = threading.Lock()  # filled from the thread the model runs in

    @staticmethod
    def _key(model: str, text: str) -> bytes:
        return hashlib.blake2b(f"{model}\n{text}".encode(), digest_size=16).digest()

    def get(self, model: str, text: str) -> tuple[Vector | None, bool]:
        """The question's vector if remembered, and whether it was computed ahead for this
        very question (the first ask after `put(fresh=True)`) rather than an earlier one."""
        key = self._key(model, text)
        with self._lock:
            vector = self._vectors.get(key)
            if vector is None:
                return None, False
            self._vectors.move_to_end(key)
            fresh = key in self._fresh
            self._fresh.discard(key)
            return vector, fresh

    def has(self, model: str, text: str) -> bool:
        with self._lock:
            return self._key(model, text) in self._vectors

    def put(self, model: str, text: str, vector: Vector, *, fresh: bool = False) -> None:
        key = self._key(model, text)
        with self._lock:
            self._vectors[key] = vector
            if fresh:
                self._fresh.add(key)
            while len(self._vectors) > self._limit:
                old, _ = self._vectors.popitem(last=False)
                self._fresh.discard(old)

    def __len__(self) -> int:
        return len(self._vectors)
