"""Ticket labels: short words staff put on tickets (or a routing rule puts on a new one) to
find and group them. Written as they are typed, lower-cased and trimmed; a ticket keeps at
most MAX_LABELS of at most MAX_CHARS characters each."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_LABELS = 10
MAX_CHARS = 40
_SPLIT = re.compile(r"[,\n;]+")


def parse_labels(text: str | Iterable[str]) -> list[str]:
    """Labels from what was typed ("vip, refund" or a list): trimmed, lower-cased, spaces
    collapsed, no repeats, in the order given; empty ones dropped."""
    parts = _SPLIT.split(text) if isinstance(text, str) else list(text)
    found: list[str] = []
    for part in parts:
        label = " ".join(str(part).split()).lower()[:MAX_CHARS]
        if label and label not in found:
            found.append(label)
    return found[:MAX_LABELS]
