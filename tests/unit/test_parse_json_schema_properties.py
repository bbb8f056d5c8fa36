"""Property tests of schema checks: `$id`, `$anchor`, `$defs`, relative `$ref`s, ECMA patterns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry

from pytest_llmeval.errors import InvalidSchemaError
from pytest_llmeval.strict_json import compile_schema, parse_json

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOT_ID = "https://example.com/schemas/root.json"
PATTERNS = ("^[a-z]+$", "^a", "[0-9]", "^\\p{Lu}", "^\\p{Letter}+$", "\\P{L}")

leaves = st.recursive(
    st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(
                    ["string", "integer", "number", "boolean", "null", "object", ["string", "null"]]
                )
            }
        ),
        st.fixed_dictionaries(
            {"enum": st.lists(st.sampled_from(["a", "B", 1, 2.5, True, None]), min_size=1)}
        ),
        st.fixed_dictionaries({"type": st.just("integer"), "minimum": st.integers(-2, 2)}),
        st.fixed_dictionaries({"type": st.just("string"), "maxLength": st.integers(0, 3)}),
        st.fixed_dictionaries({"type": st.just("string"), "pattern": st.sampled_from(PATTERNS)}),
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"type": st.just("array"), "items": inner}),
        st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.fixed_dictionaries({"a": inner}),
                "required": st.sampled_from([[], ["a"]]),
                "additionalProperties": st.booleans(),
            }
        ),
    ),
    max_leaves=3,
)


@st.composite
def linked_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A root with an absolute `$id` whose properties refer into `$defs` in every way 2020-12 has.

    Each definition may carry a relative `$id` (so `"$ref": "nested/a.json"` resolves against
    the root's), an `$anchor` (`"#AnchorA"`, or `"a.json#AnchorA"` within its own resource);
    one definition is a resource whose own `$ref` is relative to its nested `$id`.
    """
    definitions: dict[str, Any] = {}
    targets: list[str] = []
    for name in ("a", "b", "c"):
        body = dict(draw(leaves))
        identifier = draw(st.sampled_from([None, f"{name}.json", f"nested/{name}.json"]))
        anchor = draw(st.sampled_from([None, f"Anchor{name.upper()}"]))
        targets.append(f"#/$defs/{name}")
        if identifier is not None:
            body["$id"] = identifier
            targets.append(identifier)
        if anchor is not None:
            body["$anchor"] = anchor
            targets.append(f"#{anchor}" if identifier is None else f"{identifier}#{anchor}")
        definitions[name] = body
    definitions["outer"] = {
        "$id": "nested/outer.json",
        "$ref": "leaf.json",  # relative to nested/outer.json: nested/leaf.json
        "$defs": {"leaf": {"$id": "leaf.json", **draw(leaves)}},
    }
    targets += ["nested/outer.json", "nested/leaf.json"]
    referring = draw(st.booleans())
    properties = {
        key: {"$ref": draw(st.sampled_from(targets))} if referring else draw(leaves)
        for key in ("x", "y", "z")
    }
    schema: dict[str, Any] = {
        "$id": ROOT_ID,
        "$defs": definitions,
        "type": "object",
        "properties": properties,
        "additionalProperties": draw(st.booleans()),
    }
    required = draw(st.lists(st.sampled_from(["x", "y", "z"]), unique=True))
    if required:
        schema["required"] = required
    return schema


@st.composite
def pointer_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A document without nested `$id`s whose `$ref`s are JSON pointers into it, one recursive."""
    definitions: dict[str, Any] = {name: draw(leaves) for name in ("a", "b", "c")}
    definitions["tree"] = {
        "type": "object",
        "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}},
        "additionalProperties": draw(st.booleans()),
    }
    targets = ["#/$defs/a", "#/$defs/b", "#/$defs/c", "#/$defs/tree", "#"]
    properties = {
        key: {"$ref": draw(st.sampled_from(targets))} if draw(st.booleans()) else draw(leaves)
        for key in ("x", "y", "z")
    }
    schema: dict[str, Any] = {"$defs": definitions, "type": "object", "properties": properties}
    if draw(st.booleans()):
        schema["$id"] = ROOT_ID  # a root `$id` changes nothing for `#/...`
    return schema


scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([2.0, 2.5, -0.5])
words = st.sampled_from(["", "a", "abc", "Abc", "ÉTÉ", "πr", "a1", "12", "b_c", "ab"])
members = st.recursive(
    scalars | words,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=6,
)
documents = st.fixed_dictionaries(
    {}, optional={"x": members, "y": members, "z": members, "w": members}
)
trees = st.recursive(
    st.fixed_dictionaries({}, optional={"x": members}),
    lambda inner: st.fixed_dictionaries({}, optional={"x": inner, "kids": st.lists(inner)}),
    max_leaves=5,
)


def _jsonschema_alone(schema: dict[str, Any]) -> Draft202012Validator:
    # An empty registry: a reference this test got wrong fails instead of being fetched.
    return Draft202012Validator(
        schema, format_checker=Draft202012Validator.FORMAT_CHECKER, registry=Registry()
    )


@SETTINGS
@given(linked_schemas(), documents, st.booleans())
def test_schemas_with_ids_anchors_and_relative_refs_agree_with_jsonschema(
    schema: dict[str, Any], value: dict[str, Any], strict: bool
) -> None:
    compiled = compile_schema(schema)
    parsed = parse_json(json.dumps(value), schema, strict)
    validator = compiled.validator(strict)
    assert parsed.ok == validator.is_valid(value), parsed.detail
    fast = compiled._fast_check(strict)
    if fast is not None and fast(value):
        assert validator.is_valid(value)  # the pre-check never passes what jsonschema fails
    if not strict and "\\p" not in json.dumps(schema) and "\\P" not in json.dumps(schema):
        # Patterns Python's re reads are read as jsonschema reads them.
        assert parsed.ok == _jsonschema_alone(schema).is_valid(value), parsed.detail


@SETTINGS
@given(linked_schemas())
def test_the_pre_check_steps_aside_for_references_to_nested_resources(
    schema: dict[str, Any],
) -> None:
    # $id, $anchor and $defs change nothing without a $ref that is evaluated.
    referring = any("$ref" in member for member in schema["properties"].values())
    assert (compile_schema(schema)._fast_check(False) is None) == referring


@SETTINGS
@given(pointer_schemas(), documents | trees, st.booleans())
def test_the_pre_check_follows_pointers_as_jsonschema_does(
    schema: dict[str, Any], value: dict[str, Any], strict: bool
) -> None:
    compiled = compile_schema(schema)
    fast = compiled._fast_check(strict)
    assert fast is not None
    validator = compiled.validator(strict)
    if fast(value):
        assert validator.is_valid(value)
    if not strict:
        assert fast(value) == validator.is_valid(value)  # nothing here is beyond the pre-check
    assert parse_json(json.dumps(value), schema, strict).ok == validator.is_valid(value)


def test_a_unicode_property_escape_is_read_as_ecma_262_reads_it() -> None:
    schema = {"type": "object", "patternProperties": {"^\\p{Letter}+$": {"type": "number"}}}
    assert parse_json('{"π": 1, "123": "x"}', schema).ok
    assert parse_json('{"été": "x"}', schema).category == "type_mismatch"
    upper = {"type": "array", "items": {"type": "string", "pattern": "^\\p{Lu}"}}
    assert parse_json('["Été", "Π"]', upper).ok
    assert parse_json('["été"]', upper).category == "format_violation"


def test_additional_properties_leave_out_what_an_ecma_pattern_matches() -> None:
    schema = {
        "type": "object",
        "patternProperties": {"^\\p{Lu}": {"type": "integer"}, "^x_": {}},
        "additionalProperties": False,
    }
    assert parse_json('{"Été": 1, "Π": 2, "x_1": null}', schema).ok
    extra = parse_json('{"Été": 1, "été": 2}', schema)
    assert extra.category == "unexpected_field"
    assert "'été' does not match any of the regexes" in extra.detail


def test_the_regex_format_reads_ecma_262_too() -> None:
    schema = {"type": "array", "items": {"type": "string", "format": "regex"}}
    assert parse_json('["\\\\p{L}+", "^[a-z]$", "(?<year>[0-9]{4})\\\\k<year>"]', schema).ok
    assert parse_json('["("]', schema).category == "format_violation"


def test_a_pattern_neither_reads_is_an_invalid_schema() -> None:
    with pytest.raises(InvalidSchemaError, match=r"\$\.properties\.code\.pattern: .* 'regex'"):
        compile_schema({"properties": {"code": {"pattern": "(unclosed"}}})


def test_an_ecma_only_pattern_beside_unevaluated_properties_is_refused_up_front() -> None:
    schema = {"patternProperties": {"^\\p{Lu}": True}, "unevaluatedProperties": False}
    with pytest.raises(InvalidSchemaError, match="unevaluatedProperties"):
        compile_schema(schema)
    # The same pattern written in syntax Python's re also reads is fine.
    compile_schema({"patternProperties": {"^[A-Z]": True}, "unevaluatedProperties": False})
