"""What customers ask that the FAQ does not answer, grouped by meaning: "поставить на паузу",
"заморозить абонемент" and "freeze membership pls" are one gap with three examples.

This model's vectors all point roughly one way (every cosine is 0.8 or more), so they are
centred on the mean of the FAQ's and the misses' vectors first; then each question joins the
group whose centre is nearest if it is near enough, else starts its own. Set on the labelled
sets' phrasings standing in for misses (README). Without the model, questions group by the
share of word stems they have in common.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from bot.core.understanding.faq_matcher import FaqDocument, tokenize
from bot.core.understanding.faq_ranking import FaqMatcher, RankedEntry
from bot.core.understanding.semantic import QUERY, Vector
from storage.repositories.faq_gaps import Miss

SAME_MEANING = 0.4  # centred cosine from which a question joins a group
SAME_WORDS = 0.5  # without the model: share of stems in common (Jaccard)
MAX_EXAMPLES = 5


@dataclass
class Gap:
    count: int = 0
    examples: list[str] = field(default_factory=list)  # distinct, most asked first
    kinds: Counter[str] = field(default_factory=Counter)
    last_seen: datetime | None = None
    nearest: RankedEntry | None = None  # a close entry: a keyword of it may close the gap
    entry: FaqDocument | None = None  # that entry as the FAQ has it (slug, language, question)


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())


def centred(vectors: Vector, reference: Vector) -> Vector:
    mean = np.vstack([vectors, reference]).mean(axis=0) if len(reference) else vectors.mean(0)
    centred = vectors - mean
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.asarray(centred / np.maximum(norms, 1e-9), dtype=np.float32)


def group_by_vectors(vectors: Vector, threshold: float = SAME_MEANING) -> list[list[int]]:
    """Greedy grouping of unit vectors around running centres; returns member indexes."""
    centres: list[Vector] = []
    members: list[list[int]] = []
    for i, vector in enumerate(vectors):
        if centres:
            stacked = np.vstack(centres)
            similarity = stacked @ vector / np.linalg.norm(stacked, axis=1)
            best = int(similarity.argmax())
            if similarity[best] >= threshold:
                centres[best] = centres[best] + vector
                members[best].append(i)
                continue
        centres.append(vector.copy())
        members.append([i])
    return members


def group_by_words(texts: list[str], threshold: float = SAME_WORDS) -> list[list[int]]:
    stems = [set(tokenize(text)) for text in texts]
    members: list[list[int]] = []
    for i, mine in enumerate(stems):
        for group in members:
            theirs = stems[group[0]]
            union = mine | theirs
            if union and len(mine & theirs) / len(union) >= threshold:
                group.append(i)
                break
        else:
            members.append([i])
    return members


async def find_gaps(matcher: FaqMatcher, misses: list[Miss], min_count: int = 1) -> list[Gap]:
    """Misses grouped by meaning, biggest first, each with the entry that came closest."""
    asked: dict[str, list[Miss]] = {}
    for miss in misses:  # the same words twice are one question asked twice
        asked.setdefault(_normal(miss.text), []).append(miss)
    texts = list(asked)
    if not texts:
        return []
    dense = matcher.dense
    if dense is not None:
        embedded = await asyncio.to_thread(
            dense.embedder.embed, [asked[t][0].text for t in texts], QUERY, False
        )
        groups = group_by_vectors(centred(embedded, dense.vectors))
    else:
        groups = group_by_words(texts)
    gaps = []
    for group in groups:
        gap = Gap()
        by_count = sorted(group, key=lambda i: -len(asked[texts[i]]))
        for i in by_count:
            for miss in asked[texts[i]]:
                gap.count += 1
                gap.kinds[miss.kind] += 1
                if gap.last_seen is None or miss.created_at > gap.last_seen:
                    gap.last_seen = miss.created_at
        gap.examples = [asked[texts[i]][0].text for i in by_count[:MAX_EXAMPLES]]
        if gap.count >= min_count:
            gaps.append(gap)
    gaps.sort(key=lambda g: (-g.count, g.examples[0]))
    for gap in gaps:
        # Only an entry close enough to be offered as a suggestion is worth a keyword.
        ranking = await matcher.rank(gap.examples[0], None)
        gap.nearest = ranking.suggestions[0] if ranking.suggestions else None
        gap.entry = matcher.index.get(gap.nearest.entry_id) if gap.nearest else None
    return gaps
