"""What every config section checks its keys with: shared rules, so a channel package that owns
its section (`bot/channels/*/config.py`) words its problems as `bot/config.py` does."""

from __future__ import annotations

import re
from collections.abc import Iterator

SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]{1,256}")
CHANNEL_NAME = re.compile(r"[a-z0-9_-]{2,24}")
RESERVED_CHANNELS = ("telegram", "webchat", "staff", "whatsapp", "vk", "email")
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def above_zero(section: object, name: str, keys: tuple[str, ...]) -> Iterator[str]:
    """`[name] key: must be above 0` for each of `keys` that is not."""
    for key in keys:
        if getattr(section, key) <= 0:
            yield f"[{name}] {key}: must be above 0"
