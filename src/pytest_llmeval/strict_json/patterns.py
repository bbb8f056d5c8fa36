"""JSON Schema patterns (ECMA-262 regular expressions), read by Python's `re` where it can.

A pattern that `re` compiles is read by `re`, exactly as jsonschema reads it, so every verdict
jsonschema gives stays the same. A pattern `re` refuses (ECMA-only syntax such as
`\\p{Letter}`, `\\k<name>`, `[^]` or `\\cJ`) is read by `regress`, an ECMA-262 engine, with
the `u` flag first (Unicode property escapes need it) and without it next. Only a pattern that
neither reads is an invalid schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

#: `search(text)`: a match object when the pattern matches somewhere in `text`, else None.
Search = Callable[[str], Any]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class PatternError(ValueError):
    """A pattern that neither Python's `re` nor an ECMA-262 engine can read."""


@lru_cache(maxsize=1024)
def python_reads(pattern: str) -> bool:
    """True when Python's `re` compiles `pattern`: jsonschema's own keywords can use it."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Search:
    """The search function for a JSON Schema pattern; raises `PatternError` if unreadable."""
    try:
        return re.compile(pattern).search
    except re.error:
        return _ecma_search(pattern)


def is_pattern(instance: object) -> bool:
    """The `regex` format: True for a readable pattern and for anything not a string."""
    if isinstance(instance, str):
        compile_pattern(instance)  # raises PatternError, which the format checker catches
    return True


def _ecma_search(pattern: str) -> Search:
    # Imported here: only schemas with ECMA-only syntax pay for loading the engine.
    import regress

    for flags in ("u", ""):
        try:
            find = regress.Regex(pattern, flags).find
        except regress.RegressError:
            continue
        return _searching(find)
    raise PatternError(f"{pattern!r} is not a regular expression (ECMA-262)")


def _searching(find: Callable[[str], Any]) -> Search:
    def search(text: str) -> Any:
        try:
            return find(text)
        except UnicodeEncodeError:
            # A lone surrogate (JSON allows "\ud800") has no UTF-8 form for the engine: it is
            # matched as U+FFFD, the replacement character.
            return find(_SURROGATE.sub("\ufffd", text))

    return search
