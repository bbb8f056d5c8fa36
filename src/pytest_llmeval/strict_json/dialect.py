"""The jsonschema validator classes behind schema checks: ECMA-262 patterns, strict integers.

Each draft's own class, extended three ways: `pattern`, `patternProperties` and the `regex`
format read patterns as `patterns.compile_pattern` does (so `\\p{Letter}` works); strict
mode's integer is an int, never `2.0`; and references resolve only inside the schema and
jsonschema's bundled meta-schemas, never over the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any, Final

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from pytest_llmeval.strict_json.patterns import (
    PatternError,
    compile_pattern,
    is_pattern,
    python_reads,
)

_Keyword = Callable[[Any, Any, Any, Any], Iterator[ValidationError]]


def _never_fetch(uri: str) -> Resource[Any]:
    # jsonschema would otherwise fetch an unknown http(s) URI, with no timeout.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


#: Where `$ref`s resolve beyond the schema itself: jsonschema adds its meta-schemas.
OFFLINE: Final[Registry[Any]] = Registry(retrieve=_never_fetch)  # type: ignore[call-arg]


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # jsonschema's keyword, with the pattern read by compile_pattern; the same message.
    if validator.is_type(instance, "string") and compile_pattern(pattern)(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        search = compile_pattern(pattern)
        for name, member in instance.items():
            if search(name) is not None:
                yield from validator.descend(member, subschema, path=name, schema_path=pattern)


def _additional_properties(original: _Keyword) -> _Keyword:
    def additional_properties(
        validator: Any, extra: Any, instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        patterns = schema.get("patternProperties")
        if (
            not isinstance(patterns, dict)
            or not validator.is_type(instance, "object")
            or all(python_reads(pattern) for pattern in patterns)
        ):
            yield from original(validator, extra, instance, schema)
            return
        # Members an ECMA-only pattern matches are not additional; the rest, and the patterns
        # `re` reads, go to jsonschema's own keyword, so its wording stays.
        ecma = [compile_pattern(pattern) for pattern in patterns if not python_reads(pattern)]
        members = {
            name: member
            for name, member in instance.items()
            if all(search(name) is None for search in ecma)
        }
        narrowed = {key: value for key, value in schema.items() if key != "patternProperties"}
        readable = {pattern: sub for pattern, sub in patterns.items() if python_reads(pattern)}
        if readable:
            narrowed["patternProperties"] = readable
        yield from original(validator, extra, members, narrowed)

    return additional_properties


@cache
def lenient_class(base: type[Validator]) -> type[Validator]:
    """`base` (a draft's class) reading ECMA-262 patterns: JSON Schema's own integer rule."""
    formats = FormatChecker(())
    formats.checkers = dict(base.FORMAT_CHECKER.checkers)
    formats.checks("regex", raises=PatternError)(is_pattern)
    keywords: dict[str, _Keyword] = {}
    if "pattern" in base.VALIDATORS:
        keywords["pattern"] = _pattern
    if "patternProperties" in base.VALIDATORS:
        keywords["patternProperties"] = _pattern_properties
    if "additionalProperties" in base.VALIDATORS:
        keywords["additionalProperties"] = _additional_properties(
            base.VALIDATORS["additionalProperties"]
        )
    extended: type[Validator] = extend(  # type: ignore[no-untyped-call]
        base, validators=keywords, format_checker=formats
    )
    return extended


def _is_strict_integer(checker: Any, instance: object) -> bool:
    # Strict mode: `2.0` is written as a float and a downstream parser gets a float.
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def strict_class(base: type[Validator]) -> type[Validator]:
    """`lenient_class(base)` where an integer must be written as one (`2.0` is a float)."""
    lenient = lenient_class(base)
    strict: type[Validator] = extend(  # type: ignore[no-untyped-call]
        lenient, type_checker=lenient.TYPE_CHECKER.redefine("integer", _is_strict_integer)
    )
    return strict


def ecma_patterns_beside_unevaluated(schema: object) -> str | None:
    """An ECMA-only `patternProperties` pattern in a schema using `unevaluatedProperties`.

    jsonschema's `unevaluatedProperties` reads every `patternProperties` pattern with `re`
    itself, so such a schema cannot be checked as written; None when there is none.
    """
    unevaluated = False
    ecma: str | None = None
    pending: list[object] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            unevaluated = unevaluated or "unevaluatedProperties" in node
            patterns = node.get("patternProperties")
            if ecma is None and isinstance(patterns, dict):
                ecma = next((key for key in patterns if not python_reads(key)), None)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return ecma if unevaluated else None
