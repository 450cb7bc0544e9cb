"""`otklik faq import | list | export | gaps | keyword | add`: the FAQ from and to a YAML file,
what customers asked that it did not answer (grouped by meaning), and the one step that closes
each gap."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.cli.arguments import day
from bot.cli.group import CommandError, CommandGroup
from bot.config import Settings
from bot.core.understanding.faq_catalog import FaqCatalog
from bot.core.understanding.faq_file import MAX_ANSWER, MAX_QUESTION, NEW_SLUG, dump_faq, load_faq
from bot.core.understanding.gaps import Gap, find_gaps
from bot.core.understanding.intents import matcher_for
from bot.core.understanding.language import SUPPORTED, from_text
from bot.core.understanding.semantic import load_embedder
from bot.database import command_database
from storage.repositories.faq import FaqRecord, FaqRepository
from storage.repositories.faq_gaps import KINDS, FaqGaps

MAX_PHRASE = 200
_KIND_WORDS = {"unanswered": "unanswered", "suggested": "only suggestions", "unhelpful": "rated 👎"}


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    faq = commands.add_parser("faq", parents=[common], help="manage FAQ entries")
    faq_commands = faq.add_subparsers(dest="action", metavar="ACTION")
    faq_import = faq_commands.add_parser(
        "import", parents=[common], help="load entries from a YAML file (see faq.example.yaml)"
    )
    faq_import.add_argument("file", type=Path)
    faq_import.add_argument(
        "--replace", action="store_true", help="delete entries that are not in the file"
    )
    faq_list = faq_commands.add_parser("list", parents=[common], help="print entries and stats")
    faq_list.add_argument("--language", choices=["ru", "en"])
    faq_export = faq_commands.add_parser("export", parents=[common], help="write entries as YAML")
    faq_export.add_argument("file", nargs="?", type=Path, help="output file (default: stdout)")
    gaps = faq_commands.add_parser(
        "gaps",
        parents=[common],
        help="questions the FAQ did not answer, grouped by meaning",
        description="Questions the bot could not answer surely (unanswered, or only "
        "suggestions offered) and answers rated 👎, grouped by meaning (the same question in "
        "different words), biggest first; each group with examples, the entry that came "
        "closest and the command that turns it into a keyword of that entry or a new entry.",
    )
    gaps.add_argument("--from", dest="since", type=day, help="first day, YYYY-MM-DD (UTC)")
    gaps.add_argument("--to", dest="until", type=day, help="last day, inclusive")
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
    if args.action in ("import", "list", "export"):
        return await _file(settings, args)
    async with command_database(settings.database) as pool:
        if args.action == "gaps":
            if args.min_count < 1:
                raise CommandError("--min must be 1 or more")
            since, until = _window(args)
            catalog = FaqCatalog(settings.faq, load_embedder(settings.faq.semantic.mode))
            async with pool() as session, session.begin():
                misses = await FaqGaps(session).misses(since, until)
                matcher = await catalog.matcher(session)
                gaps = await find_gaps(matcher, misses, args.min_count)
            print(_render(gaps, len(misses)))
            return 0
        if args.action == "keyword":
            phrase = " ".join(args.phrase.split())
            if not phrase or len(phrase) > MAX_PHRASE:
                raise CommandError(f"the phrase must be 1 to {MAX_PHRASE} characters")
            async with pool() as session, session.begin():
                entry = await FaqRepository(session).add_keyword(
                    args.slug, args.language or _script(phrase), phrase
                )
            if entry is None:
                raise CommandError(f"no FAQ entry {args.slug!r} (see `otklik faq list`)")
            print(f"entry {entry.slug!r} [{entry.language}] now also answers {phrase!r}")
            return 0
        # add
        question, answer = args.question.strip(), args.answer.strip()
        if not NEW_SLUG.fullmatch(args.slug) or not 0 < len(question) <= MAX_QUESTION:
            raise CommandError("SLUG is 1-64 of a-z, 0-9 and -; the question 1-500 characters")
        if not 0 < len(answer) <= MAX_ANSWER:
            raise CommandError(f"the answer must be 1 to {MAX_ANSWER} characters")
        async with pool() as session, session.begin():
            created = await FaqRepository(session).add_one(
                args.slug, args.language, question, answer, tuple(args.keyword)
            )
        if not created:
            raise CommandError(f"entry {args.slug!r} [{args.language}] exists; edit it instead")
        print(f"added entry {args.slug!r} [{args.language}]")
        return 0


async def _file(settings: Settings, args: argparse.Namespace) -> int:
    async with command_database(settings.database) as pool:
        if args.action == "import":
            records = load_faq(args.file)
            async with pool() as session, session.begin():
                created, updated = await FaqRepository(session).upsert(
                    records, replace=args.replace
                )
            slugs = len({r.slug for r in records})
            print(
                f"imported {slugs} entries ({len(records)} language versions): "
                f"{created} new, {updated} updated"
            )
            competing = matcher_for(settings.faq).competing(
                {(r.slug, r.language): r.question for r in records}
            )
            for (slug, language), match in competing:
                print(
                    f"note: entry {slug!r} [{language}] competes with the built-in intent "
                    f"{match.intent!r} (like {match.phrasing!r}): the intent answers it first; "
                    "reword the question or drop the entry"
                )
        elif args.action == "list":
            async with pool() as session:
                entries = await FaqRepository(session).all()
                hits = await FaqRepository(session).hits()
            rows = [e for e in entries if args.language in (None, e.language)]
            print(
                f"{'id':>4}  {'lang':4}  {'slug':20}  {'hits':>5}  {'👍':>4}  {'👎':>4}  question"
            )
            for e in rows:
                print(
                    f"{e.id:>4}  {e.language:4}  {e.slug[:20]:20}  {hits.get(e.id, 0):>5}  "
                    f"{e.helpful_count:>4}  {e.unhelpful_count:>4}  {e.question}"
                )
            print(f"{len(rows)} entries")
        else:
            async with pool() as session:
                entries = await FaqRepository(session).all()
            records = [
                FaqRecord(
                    e.slug,
                    e.language,
                    e.question,
                    e.answer,
                    tuple(k for k in e.keywords.split("\n") if k),
                )
                for e in entries
            ]
            text = dump_faq(records)
            if args.file is None:
                sys.stdout.write(text)
            else:
                args.file.write_text(text, encoding="utf-8")
                print(f"exported {len(entries)} language versions to {args.file}", file=sys.stderr)
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


GROUP = CommandGroup(("faq",), add_parsers, run)
