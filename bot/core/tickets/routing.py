"""Routing rules: the first rule that matches a new ticket sets its category, priority,
assignee and labels; urgent words raise the priority whatever the rules say."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import regex
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import RuleConfig
from bot.core.tickets.labels import parse_labels
from bot.core.understanding.faq_matcher import tokenize
from storage.models import RoutingRule
from storage.repositories.tickets import RuleRepository

log = logging.getLogger(__name__)


def rule_problem(rule: RoutingRule) -> str | None:
    """What makes a rule unusable (named by the CLI's option), or None for a good one."""
    if not (rule.keywords or rule.pattern or rule.channel or rule.language):
        return "give at least one of --keywords, --pattern, --channel, --language"
    if not (rule.set_category or rule.set_priority or rule.set_assignee_id or rule.set_labels):
        return "give at least one of --category, --priority, --assignee, --labels"
    if rule.pattern:
        try:
            compiled = regex.compile(rule.pattern, regex.IGNORECASE)
        except regex.error as exc:
            return f"--pattern is not a valid expression: {exc}"
        if not _fast_enough(compiled):
            return (
                "--pattern takes too long to match (nested repetition such as (a+)+ can take "
                "seconds on a short message); simplify it"
            )
    return None


# A pattern runs on every new ticket's text, on the event loop: it may take this long at most.
MATCH_SECONDS = 0.05
# Texts that make a backtracking pattern explode: long runs of one character and then one that
# fails the match, over the characters people write.
_PROBES = tuple(c * 40 + end for c in "a1 .абвx" for end in ("!", "\n", ""))


def _fast_enough(pattern: regex.Pattern[str]) -> bool:
    try:
        for probe in _PROBES:
            pattern.search(probe, timeout=MATCH_SECONDS)
    except TimeoutError:
        return False
    return True


@dataclass(frozen=True)
class Routing:
    category: str = "general"
    priority: str = "normal"
    assignee_id: int | None = None
    rule_id: int | None = None
    labels: tuple[str, ...] = ()


def _matches(rule: RoutingRule, text: str, stems: set[str], channel: str, language: str) -> bool:
    if rule.channel and rule.channel != channel:
        return False
    if rule.language and rule.language != language:
        return False
    keywords = [k for k in rule.keywords.splitlines() if k.strip()]
    if keywords and not any(set(tokenize(k)) <= stems and tokenize(k) for k in keywords):
        return False
    if rule.pattern:
        try:
            found = regex.search(rule.pattern, text, regex.IGNORECASE, timeout=MATCH_SECONDS)
        except (regex.error, TimeoutError):
            # A bad or runaway pattern stored before the check existed: it does not match,
            # rather than stall every conversation.
            log.warning("routing rule %r: pattern failed or took too long; skipped", rule.name)
            return False
        if found is None:
            return False
    return bool(keywords or rule.pattern or rule.channel or rule.language)


def route(
    rules: Sequence[RoutingRule],
    text: str,
    channel: str,
    language: str,
    urgent_words: Sequence[str],
) -> Routing:
    stems = set(tokenize(text))
    result = Routing()
    for rule in rules:
        if _matches(rule, text, stems, channel, language):
            result = Routing(
                category=rule.set_category or result.category,
                priority=rule.set_priority or result.priority,
                assignee_id=rule.set_assignee_id or None,
                rule_id=rule.id,
                labels=tuple(parse_labels(rule.set_labels or "")),
            )
            break
    urgent = {stem for word in urgent_words for stem in tokenize(word)}
    if stems & urgent:
        result = replace(result, priority="urgent")
    return result


def rule_from_config(rule: RuleConfig, position: int) -> RoutingRule:
    return RoutingRule(
        name=rule.name,
        position=position,
        keywords="\n".join(rule.keywords),
        pattern=rule.pattern,
        channel=rule.channel,
        language=rule.language,
        set_category=rule.category,
        set_priority=rule.priority,
        set_assignee_id=rule.assignee_id or None,
        set_labels="\n".join(parse_labels(rule.labels)),
    )


async def seed_rules(session: AsyncSession, rules: Sequence[RuleConfig]) -> int:
    """Add configured rules that SQL does not have yet (by name); returns how many."""
    repository = RuleRepository(session)
    added = 0
    for number, rule in enumerate(rules, start=1):
        if await repository.by_name(rule.name) is None:
            await repository.add(rule_from_config(rule, number * 10))
            added += 1
    return added
