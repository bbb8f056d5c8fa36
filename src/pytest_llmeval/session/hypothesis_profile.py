"""The `llmeval` hypothesis profile, and applying it to the hypothesis tests that call a model.

Hypothesis is imported only when a test module has imported it already (or the profile is
asked for by name): a session without hypothesis tests does not pay 0.1 to 0.3 s for it.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest
    from hypothesis import settings

PROFILE = "llmeval"
DEFAULT_EXAMPLES = 20
#: The fixtures that call a model; a hypothesis test using one of them is an eval case.
MODEL_FIXTURES = frozenset({"llm", "llm_judge", "llm_moderation"})
# What a test's own @settings may change over the profile (the example database is left
# out: comparing it would create one, and a derandomized run has none).
_OVERRIDABLE = (
    "max_examples",
    "derandomize",
    "deadline",
    "verbosity",
    "phases",
    "stateful_step_count",
    "report_multiple_bugs",
    "suppress_health_check",
    "print_blob",
)
# The attribute on a @given test that holds its settings: what hypothesis's own pytest plugin
# reads, and overwrites for parametrized tests. No public API replaces a test's settings.
_SETTINGS_ATTRIBUTE = "_hypothesis_internal_use_settings"

_examples = DEFAULT_EXAMPLES
# Each test function's settings before the profile was applied, so applying it again (a second
# session in one process) starts from the test's own settings, not from the profile's.
_original: weakref.WeakKeyDictionary[Any, settings] = weakref.WeakKeyDictionary()


def configure(examples: int, requested_profile: str | None) -> None:
    """Remembers `--llm-examples`; registers the profile now if hypothesis is in use already or
    `--hypothesis-profile=llmeval` asks for it (before hypothesis's own plugin loads it)."""
    global _examples
    _examples = examples
    if "hypothesis" in sys.modules or requested_profile == PROFILE:
        register_profile()


def register_profile() -> settings:
    """Registers (again) the `llmeval` profile with the configured number of examples.

    Derandomized, so every run draws the same examples and the replay store has them; no
    deadline, since a model call takes what it takes; no example database; one reported
    failure per test, since the test is one eval case with one outcome.
    """
    from hypothesis import settings

    settings.register_profile(
        PROFILE,
        max_examples=_examples,
        derandomize=True,
        database=None,
        deadline=None,
        report_multiple_bugs=False,
    )
    return settings.get_profile(PROFILE)


def settings_for(own: settings, profile: settings) -> settings:
    """`profile`, with whatever the test's own @settings changed from the active profile."""
    from hypothesis import settings as Settings

    active = Settings.default
    changed = {
        name: getattr(own, name)
        for name in _OVERRIDABLE
        if getattr(own, name) != getattr(active, name)
    }
    return Settings(profile, **changed)


def apply_to_model_tests(items: Iterable[pytest.Item]) -> int:
    """Gives each hypothesis test that uses a model fixture the `llmeval` profile; returns how
    many test functions it changed. Other tests keep their settings."""
    if "hypothesis" not in sys.modules:  # no test module imported it: no hypothesis test here
        return 0
    from hypothesis import is_hypothesis_test
    from hypothesis import settings as Settings

    profile = register_profile()
    seen: set[int] = set()  # a parametrized test's items share one function
    changed = 0
    for item in items:
        function = getattr(item, "function", None)
        if (
            function is None
            or id(function) in seen
            or not MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or not is_hypothesis_test(function)
        ):
            continue
        seen.add(id(function))
        own = _original.get(function)
        if own is None:
            own = getattr(function, _SETTINGS_ATTRIBUTE, None)
            if not isinstance(own, Settings):  # hypothesis keeps them elsewhere now: leave it
                continue
            _original[function] = own
        setattr(function, _SETTINGS_ATTRIBUTE, settings_for(own, profile))
        changed += 1
    return changed
