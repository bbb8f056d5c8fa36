"""Property tests of `parse_json`: cut-offs, round trips, wrappings, and no exceptions ever."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pytest_llmeval.strict_json import CATEGORIES, compile_schema, failure_message, parse_json
from pytest_llmeval.strict_json import syntax as strict_json
from pytest_llmeval.strict_json.syntax import analyze as _analyze
from pytest_llmeval.strict_json.syntax import scan as _scan

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
# Only `{` and `[` begin a JSON value, so every document is an object or an array.
containers = st.lists(values, max_size=5) | st.dictionaries(st.text(max_size=8), values, max_size=5)


@st.composite
def documents(draw: st.DrawFn) -> tuple[Any, str]:
    value = draw(containers)
    indent = draw(st.sampled_from([None, 2, "\t"]))
    ensure_ascii = draw(st.booleans())
    return value, json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


# Prose a model wraps its JSON in: no brackets, braces, backticks or tildes.
prose = st.text(
    alphabet=st.characters(
        blacklist_characters="{}[]`~", blacklist_categories=("Cs",), min_codepoint=32
    ),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "")

# Text made of JSON's own characters finds the classifier's corner cases fastest.
json_ish = st.text(alphabet="{}[]\",:0123456789.eE+- \n\\utrfalsnNIydD/'#`", max_size=40)


@SETTINGS
@given(documents())
def test_every_cut_of_a_valid_document_is_unterminated(document: tuple[Any, str]) -> None:
    _, text = document
    for end in range(1, len(text)):
        prefix = text[:end]
        if prefix.strip():
            parsed = parse_json(prefix)
            assert parsed.category == "unterminated_json", (prefix, parsed.detail)
            assert parsed.position == end
            assert parsed.value is None


@SETTINGS
@given(documents())
def test_every_valid_document_is_valid_and_round_trips(document: tuple[Any, str]) -> None:
    value, text = document
    parsed = parse_json(text)
    assert parsed.category == "valid", parsed.detail
    assert parsed.ok
    assert parsed.value == value
    assert parsed.position is None
    assert parse_json(text, strict=False).value == value


@SETTINGS
@given(documents(), prose, st.sampled_from(["before", "after", "fence", "prose+fence"]))
def test_wrapping_fails_strict_mode_and_passes_lenient_mode(
    document: tuple[Any, str], words: str, wrapping: str
) -> None:
    value, text = document
    if wrapping == "before":
        wrapped, category = f"{words}\n{text}", "leading_text"
    elif wrapping == "after":
        wrapped, category = f"{text}\n{words}", "trailing_text"
    elif wrapping == "fence":
        wrapped, category = f"```json\n{text}\n```", "fenced_json"
    else:
        wrapped, category = f"{words} ```json\n{text}\n``` {words}", "fenced_json"
    strict = parse_json(wrapped)
    assert strict.category == category, strict.detail
    assert strict.value == value
    lenient = parse_json(wrapped, strict=False)
    assert lenient.category == "valid", lenient.detail
    assert lenient.value == value
    assert lenient.detail.startswith("lenient:")


@SETTINGS
@given(st.text() | json_ish, st.booleans(), st.sampled_from([None, "stop", "length"]))
@example("\ud800{", True, None)
@example('{"a": 1e400}', False, "length")
@example("[" * 600, True, None)
def test_any_text_gets_exactly_one_category_and_never_raises(
    text: str, strict: bool, finish_reason: str | None
) -> None:
    parsed = parse_json(text, strict=strict, finish_reason=finish_reason)
    assert parsed.category in CATEGORIES
    assert parsed.ok is (parsed.category == "valid")
    assert parsed.position is None or 0 <= parsed.position <= len(text)
    line = failure_message(parsed, text, finish_reason)
    assert line.isprintable() and len(line) <= 300


@SETTINGS
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))) | json_ish)
def test_bytes_and_text_get_the_same_verdict(text: str) -> None:
    assert parse_json(text.encode()) == parse_json(text)


@SETTINGS
@given(json_ish, st.sampled_from("{["))
@example("1.", "[")
@example('"\\ud83d\\u00', "[")
@example('"a":1,', "{")
@example("-0.e", "[")
def test_the_decoder_based_verdict_matches_the_reference_scanner(body: str, opener: str) -> None:
    # The fast path reads the C decoder's errors; the iterative scanner is the reference
    # grammar. Both must agree on complete, cut off or malformed, and on where.
    text = opener + body
    fast, reference = _analyze(text, 0), _scan(text, 0)
    assert fast.status == reference.status, (text, fast.detail, reference.detail)
    assert fast.end == reference.end, (text, fast.detail, reference.detail)


@contextmanager
def _standard_library_only() -> Iterator[None]:
    """parse_json with msgspec's decoder refusing everything: the standard library decides."""

    def refuse(text: str) -> Any:
        raise ValueError("refused")

    fast = strict_json._fast_decode
    strict_json._fast_decode = refuse  # type: ignore[misc]
    try:
        yield
    finally:
        strict_json._fast_decode = fast  # type: ignore[misc]


def _same_verdict(text: str) -> None:
    fast = parse_json(text)
    with _standard_library_only():
        reference = parse_json(text)
    assert fast.category == reference.category, (text, fast.detail, reference.detail)
    assert fast.detail == reference.detail, text
    assert fast.position == reference.position, text
    assert repr(fast.value) == repr(reference.value), text  # repr: tells 1 from 1.0, -0.0


@SETTINGS
@given(json_ish, st.sampled_from(["{", "[", "", "Sure: [", "```json\n{", "```\n["]))
@example("tx", "[")  # msgspec calls a literal too short to compare "truncated"
@example('"a": fals', "{")
@example('"\\ud800x"]', "[")  # and a high surrogate escape near the end
@example('"\\ud800\\uzz', "[")
@example("1, 2]\n```", "```json\n[")
@example("1]\u00a0", "[")  # white space JSON does not have
@example("123456789012345678901234567890]", "[")  # a big integer stays an int
def test_the_fast_decoder_never_changes_a_verdict(body: str, opener: str) -> None:
    _same_verdict(opener + body)


@SETTINGS
@given(documents(), st.integers(min_value=0, max_value=2**32), st.sampled_from('{}[],:"x \\'))
def test_a_damaged_document_gets_the_same_verdict_either_way(
    document: tuple[Any, str], where: int, junk: str
) -> None:
    _, text = document
    cut = where % (len(text) + 1)
    _same_verdict(text[:cut])  # cut off
    _same_verdict(text[:cut] + junk + text[cut:])  # one character too many
    _same_verdict(text[:cut] + text[cut + 1 :])  # one character missing


# -- the schema pre-check never disagrees with jsonschema -----------------------------------

FAST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["category", "priority"],
    "additionalProperties": False,
    "properties": {
        "category": {"enum": ["bug", "billing", "account"]},
        "priority": {"type": "integer", "minimum": 1, "exclusiveMaximum": 6},
        "summary": {"type": "string", "minLength": 3, "maxLength": 20, "pattern": "^[A-Z]"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3, "uniqueItems": True},
        "email": {"type": "string", "format": "email"},
        "customer": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": ["string", "integer"]}, "plan": {"const": "pro"}},
            "maxProperties": 2,
        },
        "score": {"type": "number", "multipleOf": 2},
        "flags": {"type": "array", "items": {"enum": [1, True, None, "x"]}, "minItems": 1},
        "note": {"type": ["string", "null"]},
    },
}

tickets = st.fixed_dictionaries(
    {},
    optional={
        "category": st.sampled_from(["bug", "billing", "account", "question", 1, None]),
        "priority": st.integers(-1, 7) | st.floats(0, 7) | st.booleans() | st.just("3"),
        "summary": st.text(max_size=24),
        "tags": st.lists(st.sampled_from(["ui", "refund", 3, None]), max_size=4),
        "email": st.sampled_from(["ana@example.com", "nope", 3]),
        "customer": st.fixed_dictionaries(
            {},
            optional={
                "id": st.sampled_from(["c1", 5, 5.0, True]),
                "plan": st.sampled_from(["pro", "free", 1]),
                "x": st.integers(),
            },
        ),
        "score": st.sampled_from([2, 4.0, 3, 1.5, True, "2"]),
        "flags": st.lists(st.sampled_from([1, 1.0, True, False, 0, None, "x"]), max_size=3),
        "note": st.none() | st.text(max_size=3) | st.integers(),
        "extra": st.integers(),
    },
)


def test_the_schema_pre_check_is_used_for_this_schema() -> None:
    compiled = compile_schema(FAST_SCHEMA)
    assert compiled._fast_check(True) is not None
    assert compiled._fast_check(False) is not None


@SETTINGS
@given(tickets | values, st.booleans())
def test_schema_verdicts_match_jsonschema(value: Any, strict: bool) -> None:
    text = json.dumps(value)
    if not text.startswith(("{", "[")):
        text = f"[{text}]"
        value = [value]
    compiled = compile_schema(FAST_SCHEMA)
    parsed = parse_json(text, FAST_SCHEMA, strict)
    assert parsed.ok == compiled.validator(strict).is_valid(value), parsed.detail
    if not strict:
        plain = Draft202012Validator(
            FAST_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        assert parsed.ok == plain.is_valid(value)


@SETTINGS
@given(st.integers(1, 5))
def test_a_float_written_integer_fails_strict_mode_only(priority: int) -> None:
    text = json.dumps({"category": "bug", "priority": float(priority)})
    assert parse_json(text, FAST_SCHEMA).category == "type_mismatch"
    assert parse_json(text, FAST_SCHEMA, strict=False).category == "valid"
