"""What customers say, found from the texts themselves: the key phrases (stemmed words and
word pairs, Russian and English, stop words left out) that most comments of a group share.

Deterministic and cheap (no model): every comment is reduced to its stems and adjacent stem
pairs; a theme is a phrase at least `MIN_COUNT` comments share, taken greedily by how many
share it, a pair preferred to its word when most comments with the word have the pair, a
phrase skipped when the themes already taken cover most of its comments. Each theme has its
count, the same phrase's count in the previous period, and three example quotes (text only:
an anonymous survey's quote never names its customer; no quote here names anyone).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.understanding.faq_matcher import stem, words_of
from bot.reports.figures import nps_change
from bot.reports.periods import Window
from bot.reports.surveys import rows_for
from storage.repositories.comment_report import (
    nps_comment_rows,
    nps_comments,
    ticket_subject_rows,
    ticket_subjects,
)
from storage.repositories.reports import ReportFilter, score_counts

MIN_COUNT = 2
MAX_THEMES = 8
EXAMPLES = 3
QUOTE_CHARS = 200
PAIR_SHARE = 0.8  # a pair stands for its word when this share of the word's comments have it
COVERED = 0.8  # a phrase whose comments are this much in earlier themes adds nothing
# Words that say how much or how someone feels, not what about.
_GENERIC_TEXT = """
очень весь все всё всем было был была были это эта этот еще ещё просто спасибо благодарю
большое огромное вообще всегда каждый раз ваш ваша ваши наш наша
really very also would much one thank thanks thing things lot everything always still
even ever great good bad nice okay fine well made make
неделя неделю недели день дня дней месяц месяца час часа часов минут минуты раза второй третий
after before time times day days week weeks month months hour hours minutes minute second third
"""
# Compared stem to stem, so every form of a word is left out with it.
_GENERIC = frozenset(stem(w) for w in _GENERIC_TEXT.split())


@dataclass
class _Doc:
    text: str
    phrases: set[str] = field(default_factory=set)
    surface: dict[str, str] = field(default_factory=dict)  # phrase -> words as written


def _doc(text: str) -> _Doc:
    doc = _Doc(text)
    words, stems = [], []
    for word in words_of(text):
        root = stem(word)
        if len(word) >= 3 and not word.isdigit() and root not in _GENERIC:
            words.append(word)
            stems.append(root)
    for index, (word, root) in enumerate(zip(words, stems, strict=True)):
        doc.phrases.add(root)
        doc.surface.setdefault(root, word)
        if index + 1 < len(stems) and stems[index + 1] != root:
            pair = f"{root} {stems[index + 1]}"
            doc.phrases.add(pair)
            doc.surface.setdefault(pair, f"{word} {words[index + 1]}")
    return doc


@dataclass(frozen=True)
class Theme:
    phrase: str  # stems
    label: str  # as customers wrote it most often
    count: int
    previous: int
    examples: tuple[str, ...]
    documents: frozenset[int]


def find_themes(texts: list[str], previous: list[str], limit: int = MAX_THEMES) -> list[Theme]:
    docs = [_doc(t) for t in texts if t.strip()]
    counts: Counter[str] = Counter(p for d in docs for p in d.phrases)
    earlier: Counter[str] = Counter(p for t in previous for p in _doc(t).phrases)
    holders: dict[str, list[int]] = {}
    for number, d in enumerate(docs):
        for phrase in d.phrases:
            holders.setdefault(phrase, []).append(number)
    ranked = sorted((p for p, n in counts.items() if n >= MIN_COUNT), key=lambda p: (-counts[p], p))
    taken: list[Theme] = []
    covered: set[int] = set()
    used: set[str] = set()
    for phrase in ranked:
        if len(taken) >= limit:
            break
        if " " not in phrase:
            pairs = [
                p
                for p in ranked
                if " " in p and phrase in p.split() and counts[p] >= PAIR_SHARE * counts[phrase]
            ]
            phrase = pairs[0] if pairs else phrase
        if phrase in used:
            continue
        members = holders[phrase]
        if sum(1 for m in members if m in covered) >= COVERED * len(members):
            continue
        used.add(phrase)
        covered.update(members)
        labels = Counter(docs[m].surface[phrase] for m in members)
        quotes = sorted({docs[m].text.strip() for m in members}, key=lambda q: (len(q), q))
        taken.append(
            Theme(
                phrase,
                labels.most_common(1)[0][0],
                len(members),
                earlier[phrase],
                tuple(_quote(q) for q in quotes[:EXAMPLES]),
                frozenset(members),
            )
        )
    return taken


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


def assign(themes: list[Theme], count: int) -> list[int | None]:
    """Each text's theme: the first (largest) one it belongs to, None for none."""
    found: list[int | None] = [None] * count
    for index, theme in enumerate(themes):
        for member in theme.documents:
            if found[member] is None:
                found[member] = index
    return found


def as_rows(themes: list[Theme], total: int) -> list[dict[str, Any]]:
    return [
        {
            "theme": t.label,
            "phrase": t.phrase,
            "count": t.count,
            "share_percent": round(100 * t.count / total, 1) if total else None,
            "previous": t.previous,
            "change": t.count - t.previous,
            "examples": list(t.examples),
        }
        for t in themes
    ]


GROUPS = ("detractors", "passives", "promoters", "tickets")
SCORES = {"detractors": (0, 6), "passives": (7, 8), "promoters": (9, 10)}


def _grouped(comments: list[tuple[int, str]], subjects: list[str]) -> dict[str, list[str]]:
    return {
        "detractors": [c for s, c in comments if s <= 6],
        "passives": [c for s, c in comments if 7 <= s <= 8],
        "promoters": [c for s, c in comments if s >= 9],
        "tickets": [s for s in subjects if s and s != "(attachment)"],
    }


async def build(session: AsyncSession, window: Window) -> dict[str, Any]:
    """The themes of each group's texts in the window, beside the previous window; NPS with
    whether its change beats the combined margin of error."""
    previous = window.previous()
    now = _grouped(
        await nps_comments(session, window.since, window.until),
        await ticket_subjects(session, window.since, window.until),
    )
    before = _grouped(
        await nps_comments(session, previous.since, previous.until),
        await ticket_subjects(session, previous.since, previous.until),
    )
    groups = {
        name: {
            "texts": len(now[name]),
            "themes": as_rows(find_themes(now[name], before[name]), len(now[name])),
        }
        for name in GROUPS
    }
    scores = []
    for span in (window, previous):
        counts = await score_counts(session, ReportFilter("nps", span.since, span.until))
        rows = rows_for("nps", counts)
        scores.append(rows[0] if rows else {"nps": None, "margin_95": None, "n": 0})
    change = nps_change(
        scores[0]["nps"], scores[0]["margin_95"], scores[1]["nps"], scores[1]["margin_95"]
    )
    return {
        "report": "themes",
        "window": window.as_dict(),
        "previous_window": previous.as_dict(),
        "summary": {
            "nps": {
                "value": scores[0]["nps"],
                "previous": scores[1]["nps"],
                "change": change.change,
                "change_percent": None,
            },
            "nps_n": {
                "value": scores[0]["n"],
                "previous": scores[1]["n"],
                "change": None,
                "change_percent": None,
            },
        },
        "nps_margin_95": scores[0]["margin_95"],
        "nps_combined_margin_95": change.combined_margin,
        "nps_change_significant": change.significant,
        "groups": groups,
    }


async def theme_list(
    session: AsyncSession, window: Window, group: str, phrase: str
) -> list[dict[str, Any]]:
    """One row per text of `group` in the window that has `phrase` (a theme's stems, or its
    words as a person would type them): the answers or tickets behind a theme's count, from
    the same texts the report reads."""
    if group not in GROUPS:
        raise ValueError(f"group: one of {', '.join(GROUPS)}")
    wanted = {phrase, " ".join(stem(word) for word in words_of(phrase))}
    if group == "tickets":
        texts = await ticket_subject_rows(session, window.since, window.until)
    else:
        low, high = SCORES[group]
        texts = await nps_comment_rows(session, window.since, window.until, low, high)
    return [
        {
            "source": said.source,
            "id": said.id,
            "at": said.at.isoformat(),
            "score": said.score,
            "text": said.text,
        }
        for said in sorted(texts, key=lambda said: said.id)
        if said.text.strip() and wanted & _doc(said.text).phrases
    ]
