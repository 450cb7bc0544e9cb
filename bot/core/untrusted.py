"""Values from outside (webhooks, the web chat, button data) made safe to store and compute with.

Each rule here answers a 500 an attacker once caused: `str.isdigit()` accepts "²", ids beyond
a database integer, JSON nested deeper than the parser's recursion limit, and text no database
can hold (a lone UTF-16 surrogate, or NUL, which PostgreSQL refuses).
"""

from __future__ import annotations

import json
import re
import traceback
from typing import Any

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_DEPTH = 64  # far beyond any update or chat payload, far below the recursion limit

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Only a JSON escape can put a surrogate or NUL into parsed text: decoded UTF-8 never does.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


class BadJson(ValueError):
    """A body that is not JSON we will work on; the message is safe to show the sender."""


def parse_id(text: str, maximum: int = INT32_MAX) -> int | None:
    """A positive database id written in ASCII digits that fits its column, else None."""
    if not 0 < len(text) <= 19 or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= maximum else None


def storable(text: str) -> str:
    """`text` with lone surrogates and NUL replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def loads(text: str) -> Any:
    """`json.loads` for a body from outside: bounded nesting, every string storable."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadJson("JSON nested too deeply") from None
    except ValueError:
        raise BadJson("body is not valid JSON") from None
    return scrub(value) if _UNSTORABLE_ESCAPE.search(text) else value


def scrub(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) made `storable`."""
    return _scrub(value, 0)


def _scrub(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise BadJson("JSON nested too deeply")
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [_scrub(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {storable(key): _scrub(item, depth + 1) for key, item in value.items()}
    return value


def failure_reason(exc: BaseException) -> str:
    """What failed and where, for a log line or an error column: the exception's type and the
    innermost frame of our code, never its message (which can quote a customer's text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/site-packages/" not in f.filename] or frames
    if not ours:
        return type(exc).__name__
    frame = ours[-1]
    where = frame.filename.rsplit("/", 2)[-2:]
    return f"{type(exc).__name__} at {'/'.join(where)}:{frame.lineno} in {frame.name}"
