"""What a command group gives the `otklik` parser: its parsers, and what runs them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot.config import Settings

Runner = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


class CommandError(Exception):
    """A refusal the person at the terminal can act on; printed as one line, exit code 2."""


@dataclass(frozen=True)
class CommandGroup:
    """`commands`: the top-level names it answers (`tickets`, `canned`, `rules`); `add_parsers`
    puts them on the parser; `run` does what was asked. With `needs_action`, a command given
    without an action prints its help instead."""

    commands: tuple[str, ...]
    add_parsers: Callable[[Any, argparse.ArgumentParser], None]
    run: Runner
    needs_action: bool = True
