"""`otklik faq gaps | keyword | add`: what customers asked that the FAQ did not answer,
grouped by meaning, and the one step that closes each gap."""

from __future__ import annotations

import argparse
import shlex
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot.cli_reports import _day
from bot.config import Settings
from bot.core.faq_catalog import FaqCatalog
from bot.core.faq_file import MAX_ANSWER, MAX_QUESTION, NEW_SLUG
from bot.core.gaps import Gap, find_gaps
from bot.core.language import SUPPORTED, from_text
from bot.core.semantic import load_embedder
from bot.database import command_database
from storage.repositories.faq import FaqRepository
from storage.repositories.faq_gaps import KINDS, FaqGaps

MAX_PHRASE = 200
_KIND_WORDS = {"unanswered": "unanswered", "suggested": "only suggestions", "unhelpful": "rated 👎"}


def add_parsers(faq_commands: Any, common: argparse.ArgumentParser) -> None:
    gaps = faq_commands.add_parser(
        "gaps",
        parents=[common],
        help="questions the FAQ did not answer, grouped by meaning",
        description="Questions the bot could not answer surely (unanswered, or only "
        "suggestions offered) and answers rated 👎, grouped by meaning (the same question in "
        "different words), biggest first; each group with examples, the entry that came "
        "closest and the command that turns it into a keyword of that entry or a new entry.",
    )
    gaps.add_argument("--from", dest="since", type=_day, help="first day, YYYY-MM-DD (UTC)")
    gaps.add_argument("--to", dest="until", type=_day, help="last day, inclusive")
    gaps.add_argument(
        "--min", dest="min_count", type=int, default=1, help="smallest group shown (1)"
    )
    keyword = faq_commands.add_parser(
        "keyword",
        parents=[common],
        help="add a customer's phrasing to an entry's keywords",
        description="Add PHRASE to the keywords of entry SLUG (its version in LANGUAGE; by "
        "default the one in the phrase's script, else the first): the next customer who asks "
        "that way gets the answer.",
    )
    keyword.add_argument("slug")
    keyword.add_argument("phrase")
    keyword.add_argument("--language", choices=SUPPORTED)
    add = faq_commands.add_parser(
        "add", parents=[common], help="add one entry (one language version)"
    )
    add.add_argument("slug")
    add.add_argument("question")
    add.add_argument("answer")
    add.add_argument("--language", choices=SUPPORTED, default="ru")
    add.add_argument("--keyword", action="append", default=[], help="a phrasing (repeatable)")


def _window(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    since = datetime.combine(args.since, time(), UTC) if args.since else None
    until = datetime.combine(args.until, time(), UTC) + timedelta(days=1) if args.until else None
    return since, until


def _script(text: str) -> str:
    """The language a phrase is written in (its letters' majority), English without letters."""
    return from_text(text) or "en"


async def run(settings: Settings, args: argparse.Namespace) -> int:
    async with command_database(settings.database) as pool:
        if args.faq_command == "gaps":
            if args.min_count < 1:
                print("otklik: --min must be 1 or more")
                return 2
            since, until = _window(args)
            catalog = FaqCatalog(settings.faq, load_embedder(settings.faq.semantic.mode))
            async with pool() as session, session.begin():
                misses = await FaqGaps(session).misses(since, until)
                matcher = await catalog.matcher(session)
                gaps = await find_gaps(matcher, misses, args.min_count)
            print(_render(gaps, len(misses)))
            return 0
        if args.faq_command == "keyword":
            phrase = " ".join(args.phrase.split())
            if not phrase or len(phrase) > MAX_PHRASE:
                print(f"otklik: the phrase must be 1 to {MAX_PHRASE} characters")
                return 2
            async with pool() as session, session.begin():
                entry = await FaqRepository(session).add_keyword(
                    args.slug, args.language or _script(phrase), phrase
                )
            if entry is None:
                print(f"otklik: no FAQ entry {args.slug!r} (see `otklik faq list`)")
                return 1
            print(f"entry {entry.slug!r} [{entry.language}] now also answers {phrase!r}")
            return 0
        # add
        question, answer = args.question.strip(), args.answer.strip()
        if not NEW_SLUG.fullmatch(args.slug) or not 0 < len(question) <= MAX_QUESTION:
            print("otklik: SLUG is 1-64 of a-z, 0-9 and -; the question 1-500 characters")
            return 2
        if not 0 < len(answer) <= MAX_ANSWER:
            print(f"otklik: the answer must be 1 to {MAX_ANSWER} characters")
            return 2
        async with pool() as session, session.begin():
            created = await FaqRepository(session).add_one(
                args.slug, args.language, question, answer, tuple(args.keyword)
            )
        if not created:
            print(f"otklik: entry {args.slug!r} [{args.language}] exists; edit it instead")
            return 1
        print(f"added entry {args.slug!r} [{args.language}]")
        return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _render(gaps: list[Gap], misses: int) -> str:
    if not gaps:
        return f"no gaps: {_count(misses, 'question')} missed in this period"
    lines = [
        f"{_count(misses, 'question')} missed, in {_count(len(gaps), 'group')} (biggest first)"
    ]
    for number, gap in enumerate(gaps, start=1):
        kinds = ", ".join(f"{gap.kinds[k]} {_KIND_WORDS[k]}" for k in KINDS if gap.kinds[k])
        seen = gap.last_seen.date().isoformat() if gap.last_seen else "-"
        times = "once" if gap.count == 1 else f"{gap.count} times"
        lines.append(f"\n{number}. asked {times} ({kinds}), last {seen}")
        for example in gap.examples:
            lines.append(f"     {example!r}")
        first = shlex.quote(gap.examples[0])
        nearest, doc = gap.nearest, gap.entry
        if nearest is not None and doc is not None:
            lines.append(
                f"   closest entry: {doc.slug} [{doc.language}] {doc.question!r} "
                f"(score {nearest.score:.2f})"
            )
            lines.append(f"   keyword:   otklik faq keyword {doc.slug} {first}")
        lines.append(
            f"   new entry: otklik faq add NEW-SLUG {first} 'ANSWER' --language "
            f"{_script(gap.examples[0])}"
        )
    return "\n".join(lines)
