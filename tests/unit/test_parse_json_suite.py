"""The official JSON Schema test suite, draft 2020-12: parse_json's verdict is the suite's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.strict_json import parse_json

SUITE = Path(__file__).parent / "json_schema_suite"
REMOTES = {path.name: json.loads(path.read_text()) for path in (SUITE / "remotes").glob("*/*")}


@dataclass(frozen=True)
class SuiteCase:
    where: str
    schema: Any
    data: Any
    valid: bool


def _bundled(schema: Any) -> Any:
    """`schema` with the suite's remote documents it names in `$defs`, under their `$id`."""
    if not isinstance(schema, dict):
        return schema
    text = json.dumps(schema)
    named = {f"remote {name}": remote for name, remote in REMOTES.items() if name in text}
    if not named:
        return schema
    return {**schema, "$defs": {**schema.get("$defs", {}), **named}}


def _suite_cases() -> list[SuiteCase]:
    found = []
    for path in sorted((SUITE / "draft2020-12").glob("*.json")):
        for group in json.loads(path.read_text(encoding="utf-8")):
            for test in group["tests"]:
                if isinstance(test["data"], (dict, list)):
                    where = f"{path.stem}: {group['description']}: {test['description']}"
                    found.append(
                        SuiteCase(where, _bundled(group["schema"]), test["data"], test["valid"])
                    )
    return found


CASES = _suite_cases()


def _integer_rule_applies(case: SuiteCase) -> bool:
    """Strict mode's one difference: an integer written as `1.0` is not an integer."""
    return '"integer"' in json.dumps(case.schema) and _has_integral_float(case.data)


def _has_integral_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_integral_float(member) for member in value.values())
    if isinstance(value, list):
        return any(_has_integral_float(item) for item in value)
    return False


def test_the_suite_is_all_there() -> None:
    assert len(CASES) > 700
    files = {case.where.split(":")[0] for case in CASES}
    assert {"dynamicRef", "ref", "defs", "unevaluatedProperties", "patternProperties"} <= files
    assert any("Unicode property escape" in case.where for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.where for case in CASES])
def test_lenient_mode_agrees_with_the_suite(case: SuiteCase) -> None:
    parsed = parse_json(json.dumps(case.data), case.schema, strict=False)
    assert parsed.ok is case.valid, parsed.detail


@pytest.mark.parametrize("case", CASES, ids=[case.where for case in CASES])
def test_strict_mode_agrees_unless_an_integer_is_written_as_a_float(case: SuiteCase) -> None:
    if _integer_rule_applies(case):
        pytest.skip("strict mode: an integer written as 1.0 is a float (docs/json-checks.md)")
    parsed = parse_json(json.dumps(case.data), case.schema)
    assert parsed.ok is case.valid, parsed.detail
