"""Routing rules: the first rule that matches a new ticket sets its category, priority and
assignee; urgent words raise the priority whatever the rules say."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import RuleConfig
from bot.core.faq_matcher import tokenize
from storage.models import RoutingRule
from storage.repositories.tickets import RuleRepository


def rule_problem(rule: RoutingRule) -> str | None:
    """What makes a rule unusable (named by the CLI's option), or None for a good one."""
    if not (rule.keywords or rule.pattern or rule.channel or rule.language):
        return "give at least one of --keywords, --pattern, --channel, --language"
    if not (rule.set_category or rule.set_priority or rule.set_assignee_id):
        return "give at least one of --category, --priority, --assignee"
    try:
        re.compile(rule.pattern)
    except re.error as exc:
        return f"--pattern is not a valid expression: {exc}"
    return None


@dataclass(frozen=True)
class Routing:
    category: str = "general"
    priority: str = "normal"
    assignee_id: int | None = None
    rule_id: int | None = None


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
            if re.search(rule.pattern, text, re.IGNORECASE) is None:
                return False
        except re.error:
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
            )
            break
    urgent = {stem for word in urgent_words for stem in tokenize(word)}
    if stems & urgent:
        result = Routing(result.category, "urgent", result.assignee_id, result.rule_id)
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
