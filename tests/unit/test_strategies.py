"""`variations(base)` and the llmeval profile's settings, without pytest machinery."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis.strategies import SearchStrategy

from pytest_llmeval.session import hypothesis_profile
from pytest_llmeval.strategies import (
    _INJECTIONS,
    INJECTION_CANARY,
    KINDS,
    TYPOS,
    Variant,
    typo,
    variants,
    variations,
)

BASE = "Summarize this ticket: my invoice shows the wrong address, please fix it."
# Longer than 101 characters: typo positions then range over numbers hypothesis may take
# from the project's modules (it leaves out the small ones).
LONG_BASE = (
    "Where is my parcel? I ordered it on Monday, order 4417, and paid for next-day delivery."
    " It is a birthday present for my niece and the party is on Saturday afternoon."
)


def draws(strategy: SearchStrategy[Any], count: int = 200) -> list[Any]:
    """The first `count` examples hypothesis draws, derandomized as the llmeval profile is."""
    seen: list[Any] = []

    @settings(derandomize=True, database=None, max_examples=count, deadline=None)
    @given(strategy)
    def collect(value: Any) -> None:
        seen.append(value)

    collect()
    return seen


def test_every_kind_appears_across_draws_and_steps_compose() -> None:
    found = draws(variants(BASE))
    assert {kind for variant in found for kind in variant.kinds} == set(KINDS)
    assert any(len(variant.steps) >= 2 for variant in found)
    assert all(isinstance(variant, Variant) and variant.text for variant in found)


def test_examples_are_the_same_in_every_run() -> None:
    assert draws(variations(BASE), 50) == draws(variations(BASE), 50)


_DRAW_SCRIPT = """
import json
from hypothesis import given, settings
from pytest_llmeval.strategies import variations


def draws():
    seen = []

    @settings(derandomize=True, database=None, max_examples=150, deadline=None)
    @given(variations(%r))
    def collect(prompt):
        seen.append(prompt)

    collect()
    return seen


before = draws()
import app_settings  # as a test imports the application it tests
print(json.dumps([before, draws()]))
"""


def test_examples_do_not_depend_on_the_modules_imported(tmp_path: Path) -> None:
    # Hypothesis mixes numbers found in the project's modules into integer draws; a module
    # imported before one test and not before another (one file or the suite, one xdist
    # worker or the other) must not change the prompts, or CI's replays would miss.
    numbers = ", ".join(str(number) for number in range(0, 400, 3))
    (tmp_path / "app_settings.py").write_text(f"LIMITS = [{numbers}]\n", encoding="utf-8")
    script = tmp_path / "draw.py"
    script.write_text(_DRAW_SCRIPT % LONG_BASE, encoding="utf-8")
    output = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    before, after = json.loads(output)
    assert len(set(before)) > 30
    assert after == before


def test_the_shrink_target_is_the_base_prompt() -> None:
    assert find(variations(BASE), lambda prompt: True) == BASE
    # A failure found by an injection shrinks to one injection of the unchanged base. Which
    # template it ends at depends on the search path, and hypothesis mixes the constants of
    # every project module a run has imported into that path: any template is a right answer.
    smallest = find(variations(BASE), lambda prompt: INJECTION_CANARY in prompt)
    single_injections = {
        template.format(text=BASE, canary=INJECTION_CANARY)
        for templates in _INJECTIONS.values()
        for template in templates
    }
    assert smallest in single_injections


def _only(kind: str, max_steps: int = 3) -> list[Variant]:
    strategy = variants(BASE, kinds=[kind], max_steps=max_steps)
    return [variant for variant in draws(strategy, 60) if variant.steps]


def test_casing_changes_only_case() -> None:
    found = _only("casing")
    assert all(variant.text.lower() == BASE.lower() for variant in found)
    assert {variant.text for variant in found} >= {BASE.upper(), BASE.lower()}


def test_white_space_changes_only_white_space() -> None:
    found = _only("whitespace")
    assert all(variant.text.split() == BASE.split() for variant in found)
    assert any(variant.text != BASE for variant in found)


def test_typos_are_small_edits() -> None:
    found = _only("typos")
    for variant in found:  # each typo adds or removes at most one character
        edits = sum(len(step.form.split("+")) for step in variant.steps)
        assert abs(len(variant.text) - len(BASE)) <= edits
    assert sum(variant.text != BASE for variant in found) > len(found) // 2


def test_length_pads_truncates_or_repeats() -> None:
    found = _only("length", max_steps=1)
    assert {variant.steps[0].form for variant in found} == {"padding", "truncation", "repetition"}
    for variant in found:
        assert BASE in variant.text or BASE.startswith(variant.text)


@pytest.mark.parametrize("kind", ["tone", "roleplay", "injection"])
def test_wrappers_keep_the_base_prompt_inside(kind: str) -> None:
    found = _only(kind)
    assert all(BASE in variant.text and variant.text != BASE for variant in found)
    assert len({step.form for variant in found for step in variant.steps}) >= 3


def test_injections_ask_for_the_canary_with_each_trick() -> None:
    found = _only("injection")
    assert all(INJECTION_CANARY in variant.text for variant in found)
    forms = {step.form for variant in found for step in variant.steps}
    assert forms == {"ignore_previous", "fake_system_tag", "delimiter_break"}


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("adjacent_key", "invoixe"),
        ("transposition", "invoiec"),
        ("drop", "invoie"),
        ("double", "invoicce"),
    ],
)
def test_typo_forms(form: str, expected: str) -> None:
    assert typo("invoice", form, 5) == expected
    assert form in TYPOS


def test_typos_never_empty_a_prompt() -> None:
    assert typo("a", "drop", 0) == "a"
    assert typo("", "double", 3) == ""


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"base": 42}, TypeError, "base must be a prompt string, not 42"),
        ({"base": "hi", "kinds": ["typo"]}, ValueError, "'typo' is not a kind of variation"),
        ({"base": "hi", "kinds": []}, ValueError, "no kind is not a kind of variation"),
        ({"base": "hi", "max_steps": 0}, ValueError, "0 must be a whole number of 1 or more"),
    ],
)
def test_bad_arguments_say_what_to_change(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        variations(**arguments)


def test_without_hypothesis_the_import_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pytest_llmeval.strategies")
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    message = r"needs the hypothesis package: pip install 'pytest-llmeval-gate\[hypothesis\]'"
    with pytest.raises(ImportError, match=message):
        importlib.import_module("pytest_llmeval.strategies")


def test_a_tests_own_settings_win_over_the_profile() -> None:
    hypothesis_profile.configure(7, None)
    try:
        profile = hypothesis_profile.register_profile()
    finally:
        hypothesis_profile.configure(hypothesis_profile.DEFAULT_EXAMPLES, None)
    plain = hypothesis_profile.settings_for(settings.default, profile)
    assert (plain.max_examples, plain.derandomize, plain.deadline) == (7, True, None)
    assert plain.database is None and plain.report_multiple_bugs is False
    own = hypothesis_profile.settings_for(settings(max_examples=3, print_blob=True), profile)
    assert (own.max_examples, own.derandomize, own.deadline, own.print_blob) == (
        3,
        True,
        None,
        True,
    )


def test_a_test_whose_settings_cannot_be_found_is_left_alone() -> None:
    @given(variations(BASE))
    def test_model(prompt: str) -> None:
        """A hypothesis test, as a later hypothesis might keep it: settings elsewhere."""

    class Item:
        def __init__(self, function: Any) -> None:
            self.fixturenames = ("llm",)
            self.function = function

    assert hypothesis_profile.apply_to_model_tests([Item(test_model)]) == 1  # type: ignore[list-item]
    assert test_model._hypothesis_internal_use_settings.derandomize  # type: ignore[attr-defined]
    hidden = given(variations(BASE))(lambda prompt: None)
    del hidden._hypothesis_internal_use_settings  # type: ignore[attr-defined]
    assert hypothesis_profile.apply_to_model_tests([Item(hidden)]) == 0  # type: ignore[list-item]
