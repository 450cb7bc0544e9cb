"""The `[channels.whatsapp]` section: WhatsApp Business Cloud API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class WhatsAppConfig:
    """WhatsApp Business Cloud API."""

    # Permanent access token of the system user; empty keeps WhatsApp off
    # (OTKLIK__CHANNELS__WHATSAPP__TOKEN).
    token: str = ""
    phone_number_id: str = ""
    # The app secret: every webhook POST is signed with it (X-Hub-Signature-256)
    # (OTKLIK__CHANNELS__WHATSAPP__APP_SECRET).
    app_secret: str = ""
    # What you typed as "Verify token" when subscribing the webhook.
    verify_token: str = ""
    path: str = "/whatsapp/webhook"
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v21.0"
    # Outside the 24-hour customer-service window only approved templates may be sent: this
    # one (with one body parameter, the message) carries replies and surveys there; empty:
    # such messages fail and staff are told.
    template: str = ""
    template_language: str = "ru"
    sends_per_second: float = 20.0

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def problems(self) -> Iterator[str]:
        if not self.enabled:
            return
        where = "[channels.whatsapp]"
        if not self.phone_number_id:
            yield f"{where} phone_number_id: required (from the app's WhatsApp page)"
        if len(self.app_secret) < 16 or len(self.verify_token) < 8:
            yield (
                f"{where}: app_secret (16+ characters, OTKLIK__CHANNELS__WHATSAPP__APP_SECRET) "
                "and verify_token (8+) are required"
            )
        if not self.path.startswith("/") or self.sends_per_second <= 0:
            yield f"{where}: path must start with '/', sends_per_second above 0"
