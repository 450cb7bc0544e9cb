"""What is wrong right now, for `/healthz` and for alerts: parts report failing or healthy.

A part that starts failing is reported once (the caller alerts people then), not once per
attempt; a part that heals is reported once too. This is a view of the moment, rebuilt by the
next attempt after a restart, not state that needs to survive one.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

# Parts whose failure means the bot cannot do its work at all: /healthz answers 503. A part
# named "database_writes:TABLE" (see storage.write_watch) is one of them.
WRITES = "database_writes"
CRITICAL = frozenset({WRITES})


def writes_part(table: str) -> str:
    """The part for failing writes to one table."""
    return f"{WRITES}:{table}"


def is_critical(part: str) -> bool:
    return part.split(":", 1)[0] in CRITICAL


class StatusBoard:
    def __init__(self) -> None:
        self._failing: dict[str, tuple[str, float]] = {}

    def failing(self, part: str, reason: str) -> bool:
        """Record a failure; True when the part was healthy until now."""
        new = part not in self._failing
        since = self._failing[part][1] if not new else time.time()
        self._failing[part] = (reason[:300], since)
        if new:
            log.warning("%s is failing: %s", part, reason[:300])
        return new

    def healthy(self, part: str) -> bool:
        """Record a success; True when the part was failing until now."""
        if self._failing.pop(part, None) is None:
            return False
        log.warning("%s works again", part)
        return True

    def problems(self) -> dict[str, str]:
        return {part: reason for part, (reason, _) in self._failing.items()}

    @property
    def critical(self) -> bool:
        return any(is_critical(part) for part in self._failing)

    @property
    def writes_failing(self) -> bool:
        return any(part.split(":", 1)[0] == WRITES for part in self._failing)
