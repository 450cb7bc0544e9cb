"""A campaign's progress as one line of text: the CLI prints it, the Telegram admin's status
message shows it."""

from __future__ import annotations


def progress(counts: dict[str, int], width: int = 30) -> str:
    """`[######........] 12/40 30%` from the deliveries' counts by status."""
    total = sum(counts.values())
    done = total - counts.get("queued", 0) - counts.get("sending", 0)
    filled = width * done // total if total else 0
    percent = 100 * done / total if total else 0.0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {percent:.0f}%"
