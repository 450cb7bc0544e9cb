"""How well `otklik faq gaps` groups questions by meaning, on the labelled sets' phrasings
standing in for misses (each set's label is the true group): per business and threshold,
groups made, purity (share of questions in a group whose most common label is theirs) and
completeness (share of same-label pairs put in one group). Run: python bench/gaps.py"""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.understanding import FAQS, REPORT, TUNE, load_cases  # noqa: E402
from bot.core.understanding.faq_file import load_faq  # noqa: E402
from bot.core.understanding.faq_matcher import FaqDocument  # noqa: E402
from bot.core.understanding.gaps import (  # noqa: E402
    SAME_MEANING,
    SAME_WORDS,
    centred,
    group_by_vectors,
    group_by_words,
)
from bot.core.understanding.semantic import QUERY, entry_texts, load_embedder  # noqa: E402


def scores(groups: list[list[int]], labels: list[str]) -> tuple[float, float]:
    purity = sum(Counter(labels[i] for i in g).most_common(1)[0][1] for g in groups) / len(labels)
    where = {i: n for n, g in enumerate(groups) for i in g}
    pairs = [(a, b) for a, b in itertools.combinations(range(len(labels)), 2)]
    same = [(a, b) for a, b in pairs if labels[a] == labels[b]]
    together = sum(where[a] == where[b] for a, b in same)
    return purity, together / max(len(same), 1)


def main() -> None:
    embedder = load_embedder("auto")
    cases = [c for c in load_cases(TUNE) + load_cases(REPORT) if c.slug != "-"]
    print(
        f"{'business':8} {'matcher':8} {'threshold':>9} {'questions':>9} {'groups':>6} "
        f"{'labels':>6} {'purity':>6} {'complete':>8}"
    )
    for business, path in FAQS.items():
        mine = [c for c in cases if c.business == business]
        labels = [c.slug for c in mine]
        texts = [c.text for c in mine]
        rows = [("words", t, group_by_words(texts, t)) for t in (0.3, SAME_WORDS, 0.7)]
        if embedder is not None:
            records = load_faq(path)
            documents = [
                FaqDocument(i, r.language, r.question, "\n".join(r.keywords), r.answer, r.slug)
                for i, r in enumerate(records)
            ]
            reference = np.vstack(
                [embedder.embed([t.text], t.kind)[0] for t in entry_texts(documents)]
            )
            vectors = centred(embedder.embed(texts, QUERY, False), reference)
            for threshold in sorted({0.2, 0.25, 0.3, SAME_MEANING, 0.5}):
                rows.append(("meaning", threshold, group_by_vectors(vectors, threshold)))
        for matcher, threshold, groups in rows:
            purity, complete = scores(groups, labels)
            used = SAME_MEANING if matcher == "meaning" else SAME_WORDS
            mark = " <- used" if threshold == used else ""
            print(
                f"{business:8} {matcher:8} {threshold:9.2f} {len(texts):9d} {len(groups):6d} "
                f"{len(set(labels)):6d} {purity:6.0%} {complete:8.0%}{mark}"
            )


if __name__ == "__main__":
    main()
