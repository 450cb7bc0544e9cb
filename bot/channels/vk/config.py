"""The `[channels.vk]` section: a VK community through the Callback API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class VkConfig:
    """A VK community's messages through the Callback API."""

    # Community access token (messages permission); empty keeps VK off. Environment:
    # OTKLIK__CHANNELS__VK__TOKEN.
    token: str = ""
    group_id: int = 0
    # Callback API: the string VK expects back when it confirms the server, and the secret key
    # it sends in every event (OTKLIK__CHANNELS__VK__SECRET).
    confirmation: str = ""
    secret: str = ""
    path: str = "/vk/callback"
    api_base: str = "https://api.vk.com/method"
    api_version: str = "5.199"
    # Messages a second for the community (VK allows about 20).
    sends_per_second: float = 20.0

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def problems(self) -> Iterator[str]:
        if not self.enabled:
            return
        where = "[channels.vk]"
        if self.group_id <= 0:
            yield f"{where} group_id: the community's id is required"
        if not self.confirmation:
            yield f"{where} confirmation: the string from the Callback API page"
        if len(self.secret) < 16:
            yield (
                f"{where} secret: at least 16 characters, set on the Callback API page too "
                "(OTKLIK__CHANNELS__VK__SECRET)"
            )
        if not self.path.startswith("/") or self.sends_per_second <= 0:
            yield f"{where}: path must start with '/', sends_per_second above 0"
