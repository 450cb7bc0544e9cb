"""Pick the customer's language: the client's setting first, then the script of the text."""

from __future__ import annotations

SUPPORTED = ("ru", "en")
_CYRILLIC_LANGS = {"ru", "uk", "be", "kk", "ky", "tg", "uz", "mn", "sr", "bg", "mk"}


def from_language_code(code: str | None) -> str | None:
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    if base in _CYRILLIC_LANGS:
        return "ru"
    return "en"


def from_text(text: str, min_letters: int = 1) -> str | None:
    """The text's language by the majority of its letters; None with fewer than
    `min_letters` letters."""
    cyrillic = latin = 0
    for char in text:
        if "а" <= char.lower() <= "я" or char in "ёЁ":
            cyrillic += 1
        elif "a" <= char.lower() <= "z":
            latin += 1
    if cyrillic + latin < max(min_letters, 1):
        return None
    return "ru" if cyrillic >= latin else "en"


def detect(code: str | None, text: str, fallback: str) -> str:
    return from_language_code(code) or from_text(text) or fallback
