"""Read and write the FAQ YAML format (see faq.example.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.core.understanding.language import SUPPORTED
from storage.repositories.faq import FaqRecord

MAX_QUESTION = 500
MAX_ANSWER = 4000
# A slug typed for a new entry (console, `otklik faq add`): it ends up in URLs and commands.
# An imported file may use any string of up to 64 characters.
NEW_SLUG = re.compile(r"[a-z0-9-]{1,64}")


class FaqFileError(Exception):
    """A problem in the FAQ file, reported with the entry it is in."""


def parse_faq(text: str, source: str = "<faq>") -> list[FaqRecord]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FaqFileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise FaqFileError(f"{source}: expected a mapping with an 'entries' list")
    records: list[FaqRecord] = []
    slugs: set[str] = set()
    for number, item in enumerate(data["entries"], start=1):
        where = f"{source}: entry {number}"
        if not isinstance(item, dict):
            raise FaqFileError(f"{where}: expected a mapping")
        slug = item.get("slug")
        if not isinstance(slug, str) or not slug.strip() or len(slug) > 64:
            raise FaqFileError(f"{where}: 'slug' must be a non-empty string of at most 64 chars")
        if slug in slugs:
            raise FaqFileError(f"{where}: duplicate slug {slug!r}")
        slugs.add(slug)
        where = f"{source}: entry {slug!r}"
        unknown = set(item) - {"slug", *SUPPORTED}
        if unknown:
            raise FaqFileError(f"{where}: unknown key {sorted(unknown)[0]!r} (use slug, ru, en)")
        languages = [lang for lang in SUPPORTED if lang in item]
        if not languages:
            raise FaqFileError(f"{where}: needs at least one of 'ru', 'en'")
        for language in languages:
            records.append(_record(slug, language, item[language], f"{where} [{language}]"))
    return records


def _record(slug: str, language: str, block: Any, where: str) -> FaqRecord:
    if not isinstance(block, dict):
        raise FaqFileError(f"{where}: expected a mapping with question and answer")
    question, answer = block.get("question"), block.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise FaqFileError(f"{where}: 'question' is required")
    if not isinstance(answer, str) or not answer.strip():
        raise FaqFileError(f"{where}: 'answer' is required")
    if len(question) > MAX_QUESTION or len(answer) > MAX_ANSWER:
        raise FaqFileError(f"{where}: question ≤ {MAX_QUESTION} and answer ≤ {MAX_ANSWER} chars")
    keywords = block.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise FaqFileError(f"{where}: 'keywords' must be a list of strings")
    unknown = set(block) - {"question", "answer", "keywords"}
    if unknown:
        raise FaqFileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    return FaqRecord(slug, language, question.strip(), answer.strip(), tuple(keywords))


def load_faq(path: Path) -> list[FaqRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FaqFileError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_faq(text, str(path))


def dump_faq(records: list[FaqRecord]) -> str:
    entries: dict[str, dict[str, Any]] = {}
    for record in records:
        block: dict[str, Any] = {"question": record.question}
        if record.keywords:
            block["keywords"] = list(record.keywords)
        block["answer"] = record.answer
        entries.setdefault(record.slug, {"slug": record.slug})[record.language] = block
    return yaml.safe_dump(
        {"entries": list(entries.values())}, allow_unicode=True, sort_keys=False, width=100
    )
