"""What each room may import, read from the source: the conversation core knows no channel, no
adapter and no campaign machinery; channels and handlers know no API, page or CLI, and handlers
no channel; campaigns know only the core; storage knows nothing above it. The README's layout
table says the same."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ("bot.api", "bot.inbox", "bot.cli", "bot.app")

FORBIDDEN = {
    "bot/core": ("bot.channels", "bot.campaigns", "bot.web", "handlers", *ADAPTERS),
    "bot/campaigns": ("bot.channels", "bot.web", "handlers", *ADAPTERS),
    "bot/reports": ("bot.channels", "bot.campaigns", "bot.web", "handlers", *ADAPTERS),
    "bot/channels": ("bot.campaigns", *ADAPTERS),
    "handlers": ("bot.channels", "bot.web", *ADAPTERS),
    "bot/api": ("bot.channels", "bot.inbox", "bot.cli", "bot.app", "handlers"),
    "bot/inbox": ("bot.channels", "bot.api", "bot.cli", "bot.app", "handlers"),
    "bot/web": ("bot.campaigns", "bot.api", "bot.cli", "bot.app", "handlers"),
    "storage": ("bot", "handlers"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_each_room_imports_only_what_it_may():
    broken = []
    for room, forbidden in FORBIDDEN.items():
        files = sorted((ROOT / room).rglob("*.py"))
        assert files, room
        for path in files:
            for name in _imports(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert broken == []
