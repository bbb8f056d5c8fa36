"""Table-driven tests of `parse_json`: every category on realistic model outputs."""

from __future__ import annotations

import json
import random
import time
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from pytest_llmeval.categories import TOOL_CALL_CATEGORIES
from pytest_llmeval.errors import InvalidSchemaError
from pytest_llmeval.strict_json import (
    CATEGORIES,
    MAX_DEPTH,
    CompiledSchema,
    ParsedJson,
    compile_schema,
    failure_message,
    parse_json,
)

TRIAGE: dict[str, Any] = {
    "type": "object",
    "required": ["category", "priority"],
    "additionalProperties": False,
    "properties": {
        "category": {"enum": ["bug", "billing", "account"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "summary": {"type": "string", "minLength": 5, "maxLength": 80},
        "tags": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[a-z-]+$"},
            "maxItems": 3,
            "uniqueItems": True,
        },
        "email": {"type": "string", "format": "email"},
        "customer": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "plan": {"const": "pro"}},
        },
        "items": {
            "type": "array",
            "items": {"type": "object", "required": ["name"]},
        },
        "score": {"type": "number", "multipleOf": 0.5},
        "contact": {"anyOf": [{"required": ["email"]}, {"required": ["phone"]}]},
        "status": {"not": {"const": "deleted"}},
    },
}


@dataclass(frozen=True)
class Case:
    """One model output and what a user must see for it."""

    text: str
    category: str
    position: int | type[Ellipsis] | None = ...  # ... = not asserted
    detail: tuple[str, ...] = ()  # phrases the detail must contain
    schema: Any = None
    strict: bool = True
    finish_reason: str | None = None
    value: Any = field(default=...)  # ... = not asserted


def _ok(category: str, text: str, **extra: Any) -> Case:
    return Case(text, category, **extra)


CASES: list[Case] = [
    # 1 empty_output
    Case("", "empty_output", None, ("the reply is empty",)),
    Case("   ", "empty_output", None, ("only white space", "3 characters")),
    Case("\n\n", "empty_output", None),
    Case("\t \r\n  ", "empty_output", None),
    Case("\u2003\u00a0\n", "empty_output", None),
    Case("", "empty_output", None, ("max_tokens was hit",), finish_reason="length"),
    # 2 no_json_start
    Case(
        "Sure, here is the triage for ticket 4182.",
        "no_json_start",
        None,
        ("reply began with 'Sure, here is the tr…'",),
    ),
    Case("42", "no_json_start", None, ("bare number, string or literal",)),
    Case('"bug"', "no_json_start", None, ("bare number",)),
    Case("true", "no_json_start", None),
    Case("I'm sorry, but I can't help with that request.", "no_json_start", None),
    Case("See [note] and {name} in the docs.", "no_json_start", None),
    Case("category: bug\npriority: 3\nsummary: checkout fails", "no_json_start", None),
    Case("- [x] triaged\n- [x] labelled", "no_json_start", None),
    Case("Use {{template}} in the reply email.", "no_json_start", None),
    # After prose, a fence does not make `{` a sure start: `{c` fails, nothing else starts.
    Case('Sure! ```json {category: "bug"}```', "no_json_start", None),
    # 3 unterminated_json
    Case(
        '{"category": "bug", "priority": 4, "summ',
        "unterminated_json",
        40,
        ("cut off at offset 40", 'after \'…"priority": 4, "summ\''),
    ),
    Case('{"a": 1', "unterminated_json", 7, ("after '{\"a\": 1'",)),
    Case('{"a": "x\\', "unterminated_json", 9),
    Case('{"emoji": "\\ud83d', "unterminated_json", 17),
    Case('{"emoji": "\\ud83d\\ude0', "unterminated_json", 22),
    Case('{"ok": tru', "unterminated_json", 10),
    Case('{"score": -', "unterminated_json", 11),
    Case('{"score": 0.', "unterminated_json", 12),
    Case('{"score": 1e+', "unterminated_json", 13),
    Case('{"tags": ["checkout", "pay', "unterminated_json"),
    Case('[{"id": 1}, {"id": 2}, {"id"', "unterminated_json"),
    Case('{"category": "bug",\n  ', "unterminated_json", 22),
    Case(
        '```json\n{"category": "billing", "priority": ',
        "unterminated_json",
        44,
        ("max_tokens was hit",),
        finish_reason="length",
    ),
    Case(
        '```json\n{"category": "bug", "priority": 2\n```',
        "unterminated_json",
        42,
        ("before the code fence closes",),
    ),
    Case(
        '```json\n{"summary": "checkout fails\n```',
        "unterminated_json",
        36,
    ),
    Case(
        'Here is the JSON:\n{"category": "bug", ',
        "unterminated_json",
        38,
        ("context length was hit",),
        finish_reason="model_length",
    ),
    Case(
        '{"a": [1, 2',
        "unterminated_json",
        11,
        ("the model ended the reply before closing the value",),
        finish_reason="stop",
    ),
    Case("Sure! {", "unterminated_json", 7),
    # 4 malformed_json
    Case('{category: "bug"}', "malformed_json", 1, ("unquoted property name 'category'",)),
    Case(
        '{"category": "bug", "priority": 3,}',
        "malformed_json",
        33,
        ("trailing comma at offset 33",),
    ),
    Case('{"tags": ["a", "b", ]}', "malformed_json", 18, ("trailing comma at offset 18",)),
    Case("{'category': 'bug'}", "malformed_json", 1, ("single quotes", "double quotes")),
    Case("{\"category\": 'bug'}", "malformed_json", 13, ("single quotes",)),
    Case(
        '{"escalate": True, "duplicate_of": None}',
        "malformed_json",
        13,
        ("Python literal True", "true, false and null"),
    ),
    Case('{"duplicate_of": None}', "malformed_json", 17, ("Python literal None",)),
    Case(
        '{\n  // triage result\n  "category": "bug"\n}',
        "malformed_json",
        4,
        ("comment", "no comments"),
    ),
    Case('{"a": 1, /* why */ "b": 2}', "malformed_json", 9, ("comment",)),
    Case('{"a": 1 # note\n}', "malformed_json", 8, ("comment",)),
    Case('{"confidence": NaN}', "malformed_json", 15, ("non-finite number NaN",)),
    Case('{"score": Infinity}', "malformed_json", 10, ("non-finite number Infinity",)),
    Case("[-Infinity]", "malformed_json", 1, ("non-finite number -Infinity",)),
    Case('{"big": 1e400}', "malformed_json", 8, ("overflows to infinity",)),
    Case(
        '{"summary": "line one\nline two"}',
        "malformed_json",
        21,
        ("raw control character '\\n'",),
    ),
    Case('{"path": "C:\\windows"}', "malformed_json", 12, ("invalid escape",)),
    Case('{"a": 1 "b": 2}', "malformed_json", 8, ("missing ','",)),
    Case('{"a" 1}', "malformed_json", 5, ("expected ':'",)),
    Case("[01]", "malformed_json", 2),
    Case('{"a": undefined}', "malformed_json", 6, ("syntax error", "found 'u'")),
    Case('Result: {"category": "bug",}', "malformed_json", 26, ("trailing comma",)),
    Case('```json\n{"a": 1,}\n```', "malformed_json", 15, ("trailing comma",)),
    Case('```json\n{category: "bug"}\n```', "malformed_json", 9, ("unquoted property name",)),
    # A `[` at the very start always begins a JSON value, even a chat-template tag.
    Case('[INST] classify [/INST] {"category": "bug"}', "malformed_json", 1, ("found 'I'",)),
    # 5 fenced_json (strict)
    Case(
        '```json\n{"category": "bug"}\n```',
        "fenced_json",
        0,
        ("valid JSON inside a ```json fence at offset 0",),
        value={"category": "bug"},
    ),
    Case('```\n{"a": 1}\n```', "fenced_json", 0, ("``` fence",)),
    Case(
        'Sure! ```json {"category": "bug"}```',
        "fenced_json",
        6,
        ("```json fence", "5 characters of text before the fence: 'Sure!'"),
    ),
    Case("```JSON\n[1, 2, 3]\n```", "fenced_json", 0),
    Case('~~~json\n{"a": 1}\n~~~', "fenced_json", 0, ("~~~json fence",)),
    Case('```json\n{"a": 1}', "fenced_json", 0),
    Case(
        'Here you go:\n\n```json\n{"category": "bug"}\n```\n\nLet me know!',
        "fenced_json",
        14,
        ("text before the fence", "text after the value: 'Let me know!'"),
    ),
    # 6 multiple_json
    Case(
        '{"category": "bug"}\n{"category": "billing"}',
        "multiple_json",
        20,
        ("a second JSON value at offset 20",),
        value={"category": "bug"},
    ),
    Case("[1, 2]\n[3, 4]", "multiple_json", 7),
    Case('{"a": 1}{"b": 2}', "multiple_json", 8),
    Case(
        '{"answer": "yes"}\n\nCorrection:\n{"answer": "no"}',
        "multiple_json",
        31,
        ("text after the value: 'Correction:'",),
    ),
    Case('{"a": 1}\n{"b": ', "multiple_json", 9, ("(cut off)",)),
    Case('{"a": 1}\n{"b": 2,}', "multiple_json", 9, ("(malformed)",)),
    # A bracketed citation that is itself JSON ([1]) is a JSON value: documented choice.
    Case('Per ticket [1], the answer is {"a": 1}', "multiple_json", 30),
    # 7 leading_text
    Case(
        'Sure, here is the JSON:\n{"category": "bug"}',
        "leading_text",
        0,
        ("23 characters of text before the value: 'Sure, here is the JS…'",),
        value={"category": "bug"},
    ),
    Case('See [note]: {"a": 1}', "leading_text", 0, ("'See [note]:'",)),
    Case("Answer: [1, 2, 3]", "leading_text", 0),
    Case('json\n{"category": "bug"}', "leading_text", 0),
    Case('<s>[INST] classify [/INST] {"category": "bug"}', "leading_text", 0),
    Case('\x1b[32m{"category": "bug"}', "leading_text", 0, ("'\\x1b[32m'",)),
    Case('  \n Output: {"a": 1}', "leading_text", 4),
    Case('The {name} field is set:\n{"name": "x"}', "leading_text", 0),
    # 8 trailing_text
    Case(
        '{"category": "bug"}\n\nLet me know if you need anything else.',
        "trailing_text",
        21,
        ("38 characters of text after the value: 'Let me know if you n…'",),
        value={"category": "bug"},
    ),
    Case('{"a": 1} // done', "trailing_text", 9),
    Case("[1, 2, 3]\nThese are the IDs.", "trailing_text", 10),
    Case('{"category": "bug"}\n```', "trailing_text", 20),
    Case('{"a": 1}}', "trailing_text", 8),
    Case('{"a": 1}\nNote: {priority} is an estimate.', "trailing_text", 9),
    Case('{"a": 1} x', "trailing_text", 9, ("1 character of text after the value: 'x'",)),
    # 9 missing_field
    Case(
        '{"category": "bug"}',
        "missing_field",
        0,
        ("$: 'priority' is a required property",),
        TRIAGE,
        value={"category": "bug"},
    ),
    Case('{"priority": 2}', "missing_field", 0, ("'category'",), TRIAGE),
    Case(
        '{"category": "bug", "priority": 2, "customer": {}}',
        "missing_field",
        0,
        ("$.customer: 'id' is a required property",),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "items": [{"name": "a"}, {"name": "b"}, {}]}',
        "missing_field",
        0,
        ("$.items[2]: 'name'",),
        TRIAGE,
    ),
    Case("{}", "missing_field", 0, (), TRIAGE),
    # several errors: missing (rule 9) outranks unexpected (11) and range (13)
    Case('{"priority": 9, "extra": 1}', "missing_field", 0, ("'category'",), TRIAGE),
    Case(
        '{"refund": true}',
        "missing_field",
        0,
        ("'amount' is a dependency of 'refund'",),
        {"dependentRequired": {"refund": ["amount"]}},
    ),
    # 10 type_mismatch
    Case(
        '{"category": "bug", "priority": "high"}',
        "type_mismatch",
        0,
        ("$.priority: 'high' is not of type 'integer'",),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2.0}',
        "type_mismatch",
        0,
        ("$.priority", "without a fraction or exponent"),
        TRIAGE,
    ),
    Case('{"category": "bug", "priority": 2e0}', "type_mismatch", 0, ("$.priority",), TRIAGE),
    Case(
        '[{"category": "bug", "priority": 2}]',
        "type_mismatch",
        0,
        ("$: ", "is not of type 'object'"),
        TRIAGE,
    ),
    Case('{"category": "bug", "priority": true}', "type_mismatch", 0, (), TRIAGE),
    Case('{"category": "bug", "priority": 2, "tags": "ui"}', "type_mismatch", 0, (), TRIAGE),
    Case(
        '{"category": "bug", "priority": 3, "summary": null}',
        "type_mismatch",
        0,
        ("$.summary",),
        TRIAGE,
    ),
    Case(
        'Sure:\n{"category": "bug", "priority": "2"}',
        "type_mismatch",
        6,
        ("$.priority", "lenient: took the JSON value at offset 6"),
        TRIAGE,
        strict=False,
    ),
    # 11 unexpected_field
    Case(
        '{"category": "bug", "priority": 2, "severity": "high"}',
        "unexpected_field",
        0,
        ("('severity' was unexpected)",),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "Category": "bug"}', "unexpected_field", 0, (), TRIAGE
    ),
    Case('{"x": 1}', "unexpected_field", 0, ("False schema",), {"properties": {"x": False}}),
    Case(
        '["a", 2]',
        "unexpected_field",
        0,
        ("at most 1 item",),
        {"prefixItems": [{"type": "string"}], "items": False},
    ),
    Case(
        '{"priority_level": 1}',
        "unexpected_field",
        0,
        ("property name 'priority_level' is too long",),
        {"propertyNames": {"maxLength": 8}},
    ),
    Case(
        '{"a": 1, "b": 2}',
        "unexpected_field",
        0,
        ("Unevaluated properties",),
        {"properties": {"a": {}}, "unevaluatedProperties": False},
    ),
    # 12 enum_violation
    Case(
        '{"category": "question", "priority": 2}',
        "enum_violation",
        0,
        ("$.category: 'question' is not one of ['bug', 'billing', 'account']",),
        TRIAGE,
    ),
    Case('{"category": "Bug", "priority": 2}', "enum_violation", 0, (), TRIAGE),
    Case('{"category": "bug ", "priority": 2}', "enum_violation", 0, (), TRIAGE),
    Case('{"category": null, "priority": 2}', "enum_violation", 0, (), TRIAGE),
    Case(
        '{"category": "bug", "priority": 2, "customer": {"id": "c1", "plan": "free"}}',
        "enum_violation",
        0,
        ("$.customer.plan: 'pro' was expected",),
        TRIAGE,
    ),
    # 13 range_violation
    Case(
        '{"category": "bug", "priority": 7}',
        "range_violation",
        0,
        ("$.priority: 7 is greater than the maximum of 5",),
        TRIAGE,
    ),
    Case('{"category": "bug", "priority": 0}', "range_violation", 0, ("minimum of 1",), TRIAGE),
    Case('{"category": "bug", "priority": -1}', "range_violation", 0, (), TRIAGE),
    Case(
        '{"category": "bug", "priority": 2, "score": 0.3}',
        "range_violation",
        0,
        ("multiple of 0.5",),
        TRIAGE,
    ),
    Case(
        '{"confidence": 1.0}',
        "range_violation",
        0,
        ("$.confidence",),
        {"properties": {"confidence": {"type": "number", "exclusiveMaximum": 1}}},
    ),
    # 14 length_violation
    Case(
        '{"category": "bug", "priority": 2, "summary": "bad"}',
        "length_violation",
        0,
        ("$.summary: 'bad' is too short",),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "summary": "' + "x" * 100 + '"}',
        "length_violation",
        0,
        ("is too long",),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "tags": ["a", "b", "c", "d"]}',
        "length_violation",
        0,
        ("$.tags",),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "tags": ["ui", "ui"]}',
        "length_violation",
        0,
        ("non-unique",),
        TRIAGE,
    ),
    Case('["low"]', "length_violation", 0, ("contain",), {"contains": {"const": "urgent"}}),
    Case("{}", "length_violation", 0, (), {"type": "object", "minProperties": 1}),
    # 15 format_violation
    Case(
        '{"category": "bug", "priority": 2, "tags": ["UI"]}',
        "format_violation",
        0,
        ("$.tags[0]: 'UI' does not match '^[a-z-]+$'",),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "email": "not-an-email"}',
        "format_violation",
        0,
        ("$.email", "'email'"),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "tags": ["ui fix"]}', "format_violation", 0, (), TRIAGE
    ),
    Case(
        '{"due": "2024-13-45"}',
        "format_violation",
        0,
        ("'date'",),
        {"properties": {"due": {"type": "string", "format": "date"}}},
    ),
    Case(
        '{"ip": "999.1.1.1"}',
        "format_violation",
        0,
        (),
        {"properties": {"ip": {"type": "string", "format": "ipv4"}}},
    ),
    # 16 schema_violation
    Case(
        '{"category": "bug", "priority": 2, "contact": {}}',
        "schema_violation",
        0,
        ("$.contact", "not valid under any of the given schemas"),
        TRIAGE,
    ),
    Case(
        '{"category": "bug", "priority": 2, "status": "deleted"}',
        "schema_violation",
        0,
        ("$.status",),
        TRIAGE,
    ),
    Case(
        '{"a": 1}',
        "schema_violation",
        0,
        ("valid under each of",),
        {"oneOf": [{"type": "object"}, {"required": ["a"]}]},
    ),
    Case(
        '{"a": 1}', "schema_violation", 0, (), {"oneOf": [{"type": "array"}, {"required": ["b"]}]}
    ),
    Case('{"draft": true}', "schema_violation", 0, (), {"not": {"required": ["draft"]}}),
    # 17 valid
    Case('{"category": "bug", "priority": 2}', "valid", None, (), TRIAGE),
    Case(
        '{"category": "billing", "priority": 5, "summary": "Charged twice", "tags": ["refund"],'
        ' "email": "ana@example.com", "customer": {"id": "c-1", "plan": "pro"}, "score": 1.5,'
        ' "contact": {"email": "ana@example.com"}, "status": "open"}',
        "valid",
        None,
        (),
        TRIAGE,
    ),
    Case('  \n{"category": "bug", "priority": 5}\n', "valid", None, (), TRIAGE),
    Case("[]", "valid", None, value=[]),
    Case("{}", "valid", None, value={}),
    Case('[1, 2.5, "x", null, true, false]', "valid", None, value=[1, 2.5, "x", None, True, False]),
    Case(
        '{"summary": "Le paiement échoue 💳"}',
        "valid",
        None,
        value={"summary": "Le paiement échoue 💳"},
    ),
    Case('{"category": "bug", "priority": 2.0}', "valid", None, (), TRIAGE, strict=False),
    Case('{"n": 1e-400}', "valid", None, value={"n": 0.0}),
]


def _case_id(case: Case) -> str:
    return f"{case.category}-{case.text[:24]!r}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_category_position_and_detail(case: Case) -> None:
    parsed = parse_json(case.text, case.schema, case.strict, finish_reason=case.finish_reason)
    assert parsed.category == case.category, parsed.detail
    assert parsed.ok is (case.category == "valid")
    if case.position is not ...:
        assert parsed.position == case.position
    for phrase in case.detail:
        assert phrase in parsed.detail
    if case.value is not ...:
        assert parsed.value == case.value


def test_the_table_has_at_least_five_outputs_for_every_category() -> None:
    # The tool-call categories are llm_json.tool_call's, never parse_json's.
    counts = {category: 0 for category in CATEGORIES if category not in TOOL_CALL_CATEGORIES}
    for case in CASES:
        counts[case.category] += 1
    assert {category: n for category, n in counts.items() if n < 5} == {}


def test_categories_are_the_nineteen_in_table_order() -> None:
    assert CATEGORIES == (
        "no_tool_call",
        "unknown_tool",
        "empty_output",
        "no_json_start",
        "unterminated_json",
        "malformed_json",
        "fenced_json",
        "multiple_json",
        "leading_text",
        "trailing_text",
        "missing_field",
        "type_mismatch",
        "unexpected_field",
        "enum_violation",
        "range_violation",
        "length_violation",
        "format_violation",
        "schema_violation",
        "valid",
    )


def test_failed_syntax_has_no_value_but_wrapped_and_schema_failures_keep_it() -> None:
    assert parse_json('{"a": 1').value is None
    assert parse_json('{"a": 1,}').value is None
    assert parse_json('```json\n{"a": 1}\n```').value == {"a": 1}
    assert parse_json('{"category": "bug", "priority": 9}', TRIAGE).value == {
        "category": "bug",
        "priority": 9,
    }


def test_parsed_json_is_frozen_and_ok_follows_the_category() -> None:
    parsed = parse_json('{"a": 1}')
    assert parsed == ParsedJson("valid", {"a": 1}, "", None)
    with pytest.raises(FrozenInstanceError):
        parsed.category = "malformed_json"  # type: ignore[misc]
    assert not ParsedJson("malformed_json").ok


# -- lenient mode: rules 5 to 8 do not fail ------------------------------------------------

LENIENT = [
    ('```json\n{"category": "bug", "priority": 2}\n```', "```json fence at offset 0"),
    ('{"category": "bug", "priority": 2}\n{"category": "billing"}', "second JSON value"),
    ('Sure, here it is:\n{"category": "bug", "priority": 2}', "17 characters of text before"),
    ('See [note]: {"category": "bug", "priority": 2}', "text before the value: 'See [note]:'"),
    ('{"category": "bug", "priority": 2}\nHope this helps!', "text after the value"),
    (
        'Sure! ```json {"category": "bug", "priority": 2}``` Done.',
        "text before the fence: 'Sure!'",
    ),
]


@pytest.mark.parametrize(("text", "note"), LENIENT)
@pytest.mark.parametrize("schema", [None, TRIAGE])
def test_lenient_mode_extracts_the_value_and_notes_the_wrapping(
    text: str, note: str, schema: Any
) -> None:
    strict = parse_json(text, schema)
    lenient = parse_json(text, schema, strict=False)
    assert strict.category in ("fenced_json", "multiple_json", "leading_text", "trailing_text")
    assert lenient.category == "valid"
    assert lenient.value == {"category": "bug", "priority": 2}
    assert lenient.detail.startswith("lenient: took the JSON value at offset")
    assert note in lenient.detail


def test_lenient_mode_still_checks_the_schema_and_points_at_the_value() -> None:
    parsed = parse_json('Result:\n```json\n{"category": "bug", "priority": 6}\n```', TRIAGE, False)
    assert parsed.category == "range_violation"
    assert parsed.position == 16
    assert "$.priority: 6 is greater than the maximum of 5" in parsed.detail
    assert "lenient" in parsed.detail


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("", "empty_output"),
        ("Sure thing.", "no_json_start"),
        ('Sure:\n{"a": 1', "unterminated_json"),
        ('```json\n{"a": 1,}\n```', "malformed_json"),
    ],
)
def test_lenient_mode_does_not_relax_rules_1_to_4(text: str, category: str) -> None:
    assert parse_json(text, strict=False).category == category


# -- inputs ---------------------------------------------------------------------------------


def test_bytes_are_decoded_as_utf8_with_replacement() -> None:
    assert parse_json('{"city": "Zürich"}'.encode()).value == {"city": "Zürich"}
    assert parse_json(b'{"a": "\xff"}').value == {"a": "\ufffd"}
    assert parse_json(bytearray(b"[1]")).value == [1]


@pytest.mark.parametrize("bad", [None, 42, ["{}"], {"text": "{}"}])
def test_anything_but_text_is_a_programming_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        parse_json(bad)


# -- hostile outputs: a category, never an exception, and quickly -------------------------

rng = random.Random(7)
HOSTILE = {
    "10 MB of prose": "The quick brown fox jumps over the lazy dog. " * 233_000,
    "10 MB of bracketed prose": "See [note] and {name}. " * 455_000,
    "10 MB of failing string starts": '{"\n' * 3_400_000,
    "10 MB after a valid value": '{"a": 1}\n' + "and then some more text. " * 400_000,
    "2.5 MB valid JSON": json.dumps({"rows": [{"id": i, "name": f"n{i}"} for i in range(80_000)]}),
    "2.5 MB valid JSON cut off": json.dumps([{"id": i, "tags": ["x"]} for i in range(90_000)])[:-9],
    "NUL bytes": '{"a":\x00 1}\x00\x00',
    "NUL prose": "\x00" * 1000,
    "lone surrogate": "\ud800",
    "lone surrogate in a value": '{"a": "\ud800"}',
    "lone surrogate before a brace": "\udfff{",
    "binary junk": bytes(rng.randrange(256) for _ in range(100_000)).decode("latin-1"),
    "100,000-deep closed": "[" * 100_000 + "]" * 100_000,
    "100,000-deep unclosed": "[" * 100_000,
    "100,000-deep objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "terminal escapes": '\x1b[31m{"a": 1}\x1b[0m',
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_outputs_get_a_category_quickly(name: str) -> None:
    text = HOSTILE[name]
    # CPU time, so other work on a shared machine does not make this flaky.
    began = time.process_time()
    parsed = parse_json(text, strict=True)
    elapsed = time.process_time() - began
    assert elapsed < 2.0, f"{name}: {elapsed:.2f} s"
    assert parsed.category in CATEGORIES
    assert parse_json(text, strict=False).category in CATEGORIES
    assert len(parsed.detail) < 1_000  # never echoes megabytes
    line = failure_message(parsed, text)
    assert "\n" not in line and len(line) <= 300 and line.isprintable()


@pytest.mark.parametrize(
    ("name", "category", "position"),
    [
        ("100,000-deep closed", "malformed_json", MAX_DEPTH),
        ("100,000-deep unclosed", "malformed_json", MAX_DEPTH),
        ("10 MB of prose", "no_json_start", None),
        ("10 MB of bracketed prose", "no_json_start", None),
        ("10 MB of failing string starts", "malformed_json", 2),
        ("10 MB after a valid value", "trailing_text", 9),
        ("2.5 MB valid JSON", "valid", None),
        ("lone surrogate", "no_json_start", None),
        ("lone surrogate in a value", "valid", None),
        ("lone surrogate before a brace", "unterminated_json", 2),
        ("terminal escapes", "leading_text", 0),
    ],
)
def test_hostile_outputs_get_the_right_category(
    name: str, category: str, position: int | None
) -> None:
    parsed = parse_json(HOSTILE[name])
    assert parsed.category == category
    assert parsed.position == position


def test_nesting_too_deep_is_malformed_even_when_also_cut_off() -> None:
    for text in ("[" * (MAX_DEPTH + 1), "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)):
        parsed = parse_json(text)
        assert parsed.category == "malformed_json"
        assert "nesting too deep" in parsed.detail
        assert parsed.position == MAX_DEPTH
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH).category == "valid"
    assert parse_json("[" * MAX_DEPTH).category == "unterminated_json"


def test_integers_beyond_pythons_conversion_limit_are_malformed_not_a_crash() -> None:
    parsed = parse_json('{"id": ' + "9" * 5000 + "}")
    assert parsed.category == "malformed_json"
    assert "integer too long" in parsed.detail


# -- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "strng"}, "invalid JSON Schema at $.type: 'strng' is not valid"),
        ({"properties": {"a": {"minimum": "3"}}}, "at $.properties.a.minimum"),
        ({"pattern": "(["}, "is not a 'regex'"),
        (42, "expected an object or a boolean, got int"),
        ({"enum": {1, 2}}, "not plain JSON"),
    ],
)
def test_an_invalid_schema_raises_with_a_one_line_message(schema: Any, message: str) -> None:
    with pytest.raises(InvalidSchemaError) as caught:
        compile_schema(schema)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(InvalidSchemaError):
        parse_json('{"a": 1}', schema)


def test_an_unresolvable_ref_is_the_schemas_fault() -> None:
    with pytest.raises(InvalidSchemaError, match="cannot resolve reference"):
        parse_json('{"a": 1}', {"$ref": "https://example.com/ticket.json"})


def test_compiled_schemas_are_reused_and_accepted_in_place_of_the_schema() -> None:
    compiled = compile_schema(TRIAGE)
    assert isinstance(compiled, CompiledSchema)
    assert compile_schema(json.loads(json.dumps(TRIAGE))) is compiled  # equal content
    assert compile_schema(compiled) is compiled
    assert parse_json('{"category": "bug", "priority": 7}', compiled).category == "range_violation"
    assert compiled.check({"category": "bug", "priority": 2}) == ("valid", "")


def test_strictness_does_not_leak_between_modes_of_one_schema() -> None:
    schema = {"type": "integer"}
    assert parse_json('{"n": 2.0}', {"properties": {"n": schema}}).category == "type_mismatch"
    assert parse_json('{"n": 2.0}', {"properties": {"n": schema}}, False).category == "valid"
    assert parse_json('{"n": 2.0}', {"properties": {"n": schema}}).category == "type_mismatch"


def test_booleans_are_never_numbers() -> None:
    schema = {"properties": {"n": {"type": "number"}}}
    assert parse_json('{"n": true}', schema).category == "type_mismatch"
    assert parse_json('{"n": true}', schema, strict=False).category == "type_mismatch"


def test_the_schema_draft_named_by_dollar_schema_wins() -> None:
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "array",
        "items": [{"type": "string"}],
        "additionalItems": False,
    }
    assert parse_json('["a"]', draft7).category == "valid"
    assert parse_json('["a", 1]', draft7).category == "unexpected_field"


def test_schema_messages_are_bounded() -> None:
    parsed = parse_json('{"category": "bug", "priority": "' + "x" * 100_000 + '"}', TRIAGE)
    assert parsed.category == "type_mismatch"
    assert len(parsed.detail) < 300


# -- failure_message --------------------------------------------------------------------------


def test_failure_message_reads_like_the_design() -> None:
    text = "Sure, here is the triage you asked for."
    assert (
        failure_message(parse_json(text), text, "stop")
        == "no_json_start: reply began with 'Sure, here is the tr…' (finish_reason=stop)"
    )
    cut = '{"category": "bug", "priority": 4, "summ'
    parsed = parse_json(cut, finish_reason="length")
    assert failure_message(parsed, cut, "length") == (
        'unterminated_json: cut off at offset 40 after \'…"priority": 4, "summ\' '
        "(finish_reason=length: max_tokens was hit)"
    )
    priority = '{"category": "bug", "priority": 7}'
    assert (
        failure_message(parse_json(priority, TRIAGE), priority)
        == "range_violation: $.priority: 7 is greater than the maximum of 5"
    )


def test_failure_message_is_one_bounded_line_with_control_characters_escaped() -> None:
    hostile = "\x1b[2J\x1b[31mpwned\r\n\x07" * 1000
    line = failure_message(parse_json(hostile), hostile, "length")
    assert line.isprintable() and "\n" not in line and "\r" not in line
    assert "\\x1b" in line
    assert len(line) <= 300
