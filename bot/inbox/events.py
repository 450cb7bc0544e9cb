"""A ticket's history events in the page's language. The ticket service records them in plain
English (the staff group, the API and old rows read them so); the inbox shows each known kind
in the agent's language, and anything else as it was written."""

from __future__ import annotations

import re

from bot.core.texts import channel_word, has, t

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"assigned to (?P<name>.+)"), "ev_assigned"),
    (re.compile(r"priority (?P<priority>\w+)"), "ev_priority"),
    (re.compile(r"replies go to the channel used last"), "ev_via_last"),
    (re.compile(r"replies go to (?P<channel>\S+)"), "ev_via"),
    (re.compile(r"merged into #(?P<id>\d+)"), "ev_merged_into"),
    (re.compile(r"#(?P<id>\d+) merged here"), "ev_merged_here"),
    (re.compile(r"labels (?P<labels>.+)"), "ev_labels"),
    (re.compile(r"resolved"), "ev_resolved"),
    (re.compile(r"reopened"), "ev_reopened"),
    (re.compile(r"closed"), "ev_closed"),
)


def event_text(text: str, language: str) -> str:
    for pattern, key in _PATTERNS:
        found = pattern.fullmatch(text.strip())
        if found is None:
            continue
        values = found.groupdict()
        if "priority" in values and has(f"pr_{values['priority']}"):
            values["priority"] = t(f"pr_{values['priority']}", language)
        if "channel" in values:
            values["channel"] = channel_word(values["channel"], language)
        return t(key, language, **values)
    return text
