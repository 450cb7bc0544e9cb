"""The `[telegram]` section: the bot token, webhook or polling, the staff group and admins."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.config_rules import SECRET_CHARS, above_zero


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""
    mode: str = "polling"
    api_base: str = "https://api.telegram.org"
    webhook_url: str = ""
    webhook_path: str = "/telegram/webhook"
    webhook_secret: str = ""
    staff_chat_id: int = 0
    admin_ids: list[int] = field(default_factory=list)
    polling_timeout: int = 30
    # Sends per second for this bot token, replies, staff posts and campaigns together.
    sends_per_second: float = 30.0
    # Updates accepted and not yet handled; beyond it the webhook answers 503 (Telegram
    # redelivers later) instead of queueing more than the bot can answer soon.
    max_backlog: int = 512

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def problems(self) -> Iterator[str]:
        if self.mode not in ("webhook", "polling"):
            yield f"[telegram] mode: expected 'webhook' or 'polling', got {self.mode!r}"
        if self.enabled and self.mode == "webhook" and not self.webhook_url:
            yield "[telegram] webhook_url: required when mode = 'webhook'"
        if self.enabled and self.mode == "webhook" and len(self.webhook_secret) < 16:
            # Without it anyone who reaches the port can post updates as any user, admins too.
            yield (
                "[telegram] webhook_secret: required when mode = 'webhook' (at least 16 "
                "characters of A-Z, a-z, 0-9, _ and -; e.g. `openssl rand -hex 32`)"
            )
        if self.webhook_secret and not SECRET_CHARS.fullmatch(self.webhook_secret):
            yield "[telegram] webhook_secret: only A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        yield from above_zero(self, "telegram", ("max_backlog", "sends_per_second"))
        if not self.webhook_path.startswith("/"):
            yield "[telegram] webhook_path: must start with '/'"
