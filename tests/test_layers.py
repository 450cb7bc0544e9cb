"""What each room may import, read from the source: the conversation core knows no channel,
no adapter and no campaign machinery; handlers do not import the CLI; storage knows nothing
above it. (The README's layout map says the same.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "bot/core": ("bot.channels", "bot.campaigns", "bot.api", "bot.inbox", "bot.cli", "handlers"),
    "handlers": ("bot.cli", "bot.api", "bot.inbox", "bot.channels"),
    "storage": ("bot", "handlers"),
    "bot/channels": ("bot.cli", "bot.api", "bot.inbox"),
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
