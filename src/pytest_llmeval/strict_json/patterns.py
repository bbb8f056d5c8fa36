"""JSON Schema patterns (ECMA-262 regular expressions), read by Python's `re` where it can.

A pattern that `re` compiles is read by `re`, exactly as jsonschema reads it, so every verdict
jsonschema gives stays the same. A pattern `re` refuses (ECMA-only syntax such as
`\\p{Letter}`, `\\k<name>`, `[^]` or `\\cJ`) is read by `regress`, an ECMA-262 engine, with
the `u` flag first (Unicode property escapes need it) and without it next. Only a pattern that
neither reads is an invalid schema.

Both engines backtrack, and a pattern such as `^([A-Za-z]+ ?)*$` takes them minutes on a reply
of six words, so neither runs in this process: RE2 answers for `re` where it reads the pattern
the same way (in linear time), and any other pattern is searched by its engine in a worker
process under a time limit, whose overrun is a schema error naming the pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pytest_llmeval.strict_json.linear_patterns import linear_search
from pytest_llmeval.strict_json.pattern_sandbox import sandbox

#: `search(text)`: a match object when the pattern matches somewhere in `text`, else None.
Search = Callable[[str], Any]


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
    """The search function for a JSON Schema pattern; raises `PatternError` if unreadable.

    Every search is bounded: RE2 (linear time) where it reads the pattern as `re` does
    (`linear_patterns`), else the backtracking engine in a worker process under a time
    limit (`pattern_sandbox`), whose overrun raises `PatternTimeoutError`.
    """
    try:
        re.compile(pattern)
    except re.error:
        engine = _ecma_engine(pattern)
    else:
        linear = linear_search(pattern)
        if linear is not None:
            return linear
        engine = "re"
    return _bounded(engine, pattern)


def _bounded(engine: str, pattern: str) -> Search:
    def search(text: str) -> Any:
        return True if sandbox().search(engine, pattern, text) else None

    return search


def is_pattern(instance: object) -> bool:
    """The `regex` format: True for a readable pattern and for anything not a string."""
    if isinstance(instance, str):
        compile_pattern(instance)  # raises PatternError, which the format checker catches
    return True


def _ecma_engine(pattern: str) -> str:
    """`regress:FLAGS` for a pattern only an ECMA-262 engine reads: the `u` flag first
    (Unicode property escapes need it), then none; raises `PatternError` when neither reads."""
    # Imported here: only schemas with ECMA-only syntax pay for loading the engine.
    import regress

    for flags in ("u", ""):
        try:
            regress.Regex(pattern, flags)
        except regress.RegressError:
            continue
        return f"regress:{flags}"
    raise PatternError(f"{pattern!r} is not a regular expression (ECMA-262)")
