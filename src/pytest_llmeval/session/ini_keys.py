"""Ini keys that look like this plugin's but are not: a typo gets "did you mean", not silence."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

#: The prefix of every ini key of pytest-llmeval.
PREFIX = "llm_"


def misspelt_keys(
    given: Iterable[str], is_known: Callable[[str], bool], ours: Iterable[str]
) -> list[str]:
    """One message for each key in `given` that starts with `llm_`, is no ini key pytest
    knows (`is_known`), and is close to one of `ours`: e.g. `llm_concurency is not an ini key
    (did you mean 'llm_concurrency'?)`. A key close to none of them is left to pytest's own
    warning: it may belong to another plugin."""
    problems: list[str] = []
    for key in given:
        if not key.startswith(PREFIX) or is_known(key):
            continue
        import difflib  # only for a mistake: not worth loading for every session

        names = sorted(set(ours))
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
        if close:
            problems.append(
                f"{key} is not an ini key of pytest-llmeval (did you mean {close[0]!r}?)"
            )
    return problems


_SECTIONS = ("[pytest]", "[tool:pytest]", "[tool.pytest.ini_options]", "[tool.pytest]")


def ini_file_keys(path: Path | None) -> list[str]:
    """The keys set in the pytest section of the ini file pytest read (pytest.ini, tox.ini,
    setup.cfg, pyproject.toml), read line by line: a key is a line's first word before `=`
    (or `:`), and continuation lines (indented) are skipped. Empty when it cannot be read."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    keys: list[str] = []
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.replace(" ", "") in _SECTIONS
            continue
        if inside and line[:1] not in (" ", "\t") and (found := _KEY.match(line)):
            keys.append(found.group(1).strip('"'))
    return keys


_KEY = re.compile(r'("?[A-Za-z0-9_.-]+"?)\s*[=:]')
