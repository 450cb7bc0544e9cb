"""How a channel identity is shown to staff and in exports. A web chat visitor's id is their
session, the only thing that proves who they are: whoever has it can read their conversation
and write as them. It is never shown; a name derived from it, which proves nothing, is."""

from __future__ import annotations

import hashlib

SECRET_IDS = frozenset({"webchat"})  # channels whose user id is the user's credential


def shown_id(channel: str, external_id: str) -> str:
    if channel not in SECRET_IDS:
        return external_id
    digest = hashlib.sha256(f"otklik-visitor:{external_id}".encode()).hexdigest()
    return f"visitor-{digest[:12]}"
