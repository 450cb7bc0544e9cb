"""Everything Otklik says, in Russian and English: one catalog, one lookup.

The words live in `catalog/*.toml` beside this module, one file per audience (customers on
every channel, admins in Telegram, the web inbox and console), all in one shape: a table per
key with `ru` and `en`. They are read once into one dictionary; a key in two files is an
error at import, so a word is never silently taken from the wrong audience. Placeholders are
`str.format` names. `t` looks a key up; `words` gives a page template one language's view.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import ClassVar, Final

LANGUAGES: Final = ("ru", "en")
FALLBACK: Final = "en"
_FILES: Final = ("customers.toml", "admins.toml", "web.toml", "reports.toml")


def _load() -> dict[str, dict[str, str]]:
    catalog: dict[str, dict[str, str]] = {}
    for name in _FILES:
        text = resources.files("bot.core").joinpath(f"catalog/{name}").read_text("utf-8")
        for key, variants in tomllib.loads(text).items():
            if key in catalog:
                raise ValueError(f"text {key!r} is in catalog/{name} and an earlier file")
            if set(variants) != set(LANGUAGES):
                raise ValueError(f"text {key!r} in catalog/{name} needs exactly {LANGUAGES}")
            catalog[key] = variants
    return catalog


_CATALOG: Final = _load()
_BY_LANGUAGE: Final = {
    language: {key: variants[language] for key, variants in _CATALOG.items()}
    for language in LANGUAGES
}


def t(key: str, language: str, **values: object) -> str:
    """The text for `key` in `language` (English for any other), filled with `values`."""
    variants = _CATALOG[key]
    template = variants.get(language) or variants[FALLBACK]
    return template.format(**values) if values else template


def has(key: str) -> bool:
    return key in _CATALOG


def words(language: str) -> Mapping[str, str]:
    """Every text in one language, unfilled: what a page template reads as `t.key`."""
    return _BY_LANGUAGE.get(language) or _BY_LANGUAGE[FALLBACK]


def channel_word(channel: str, language: str) -> str:
    """A channel as a customer calls it; a generic HTTP channel by its configured name."""
    key = f"channel_{channel}"
    return t(key, language) if key in _CATALOG else channel


def weekday_name(weekday: int, language: str) -> str:
    return t(f"weekday_{weekday}", language)


def plural(n: int, language: str, forms: tuple[str, str, str] | tuple[str, str]) -> str:
    """`n` with the word's form for it. Russian takes three (one, few, many: 1 клиент,
    2 клиента, 5 клиентов; 11-14 take many); English two (1 customer, 2 customers)."""
    if language == "ru" and len(forms) == 3:
        tens, ones = n % 100, n % 10
        if ones == 1 and tens != 11:
            word = forms[0]
        elif 2 <= ones <= 4 and not 12 <= tens <= 14:
            word = forms[1]
        else:
            word = forms[2]
    else:
        word = forms[0] if n == 1 else forms[-1]
    return f"{n} {word}"


def people(n: int, language: str, case: str = "dative") -> str:
    """How many customers, as the catalog's sentences need them ("to 5 customers")."""
    if language == "ru":
        forms = (
            ("клиенту", "клиентам", "клиентам")
            if case == "dative"
            else ("клиент", "клиента", "клиентов")
        )
        return plural(n, "ru", forms)
    return plural(n, "en", ("customer", "customers"))


class Refusal(ValueError):
    """Something refused, said twice: in English (str) for the config file, the CLI and the
    API, and in a person's language through a catalog key (`said`) for the console. A value
    named in WORDS is a code said as a word: the catalog's text `WORDS[name] + value`."""

    WORDS: ClassVar[dict[str, str]] = {}

    def __init__(self, english: str, key: str = "", **values: str) -> None:
        super().__init__(english)
        self.key = key
        self.values = values

    def said(self, language: str) -> str:
        if not self.key:
            return str(self)
        shown = {
            name: t(self.WORDS[name] + value, language)
            if name in self.WORDS and has(self.WORDS[name] + value)
            else value
            for name, value in self.values.items()
        }
        return t(self.key, language, **shown)
