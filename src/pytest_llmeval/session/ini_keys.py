"""Ini keys that look like this plugin's but are not: a typo gets "did you mean", not silence."""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: The prefix of every ini key of pytest-llmeval.
PREFIX = "llm_"


def misspelt_keys(
    given: Iterable[str], is_known: Callable[[str], bool], ours: Iterable[str]
) -> list[str]:
    """One message for each key in `given` that starts with `llm_`, is no ini key pytest
    knows (`is_known`), and is close to one of `ours`: e.g. `llm_concurency is not an ini key
    (did you mean 'llm_concurrency'?)`. A key close to none of them is left to pytest's own
    warning: it may belong to another plugin."""
    import difflib  # only for a mistake: not worth loading for every session

    names = sorted(set(ours))
    problems: list[str] = []
    for key in given:
        if not key.startswith(PREFIX) or is_known(key):
            continue
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
        if close:
            problems.append(
                f"{key} is not an ini key of pytest-llmeval (did you mean {close[0]!r}?)"
            )
    return problems
