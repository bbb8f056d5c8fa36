"""Schema checks of a parsed value: compiled validators and the schema categories."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from pytest_llmeval.categories import (
    CATEGORIES,
    ENUM_VIOLATION,
    FORMAT_VIOLATION,
    LENGTH_VIOLATION,
    MISSING_FIELD,
    RANGE_VIOLATION,
    SCHEMA_VIOLATION,
    TYPE_MISMATCH,
    UNEXPECTED_FIELD,
    VALID,
)
from pytest_llmeval.errors import InvalidSchemaError
from pytest_llmeval.strict_json.dialect import (
    OFFLINE,
    ecma_patterns_beside_unevaluated,
    lenient_class,
    strict_class,
)
from pytest_llmeval.strict_json.fastcheck import Check, compile_fast
from pytest_llmeval.strict_json.quoting import shorten, snippet

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# The table's order decides between several errors: the lowest rank wins.
_RANK: Final = {category: rank for rank, category in enumerate(CATEGORIES)}
_KEYWORD_CATEGORY: Final = {
    "required": MISSING_FIELD,
    "dependentRequired": MISSING_FIELD,
    "dependencies": MISSING_FIELD,  # draft 4-7: only the array form fails as itself
    "type": TYPE_MISMATCH,
    "additionalProperties": UNEXPECTED_FIELD,
    "unevaluatedProperties": UNEXPECTED_FIELD,
    "unevaluatedItems": UNEXPECTED_FIELD,
    "additionalItems": UNEXPECTED_FIELD,
    "propertyNames": UNEXPECTED_FIELD,
    "enum": ENUM_VIOLATION,
    "const": ENUM_VIOLATION,
    "minimum": RANGE_VIOLATION,
    "maximum": RANGE_VIOLATION,
    "exclusiveMinimum": RANGE_VIOLATION,
    "exclusiveMaximum": RANGE_VIOLATION,
    "multipleOf": RANGE_VIOLATION,
    "minLength": LENGTH_VIOLATION,
    "maxLength": LENGTH_VIOLATION,
    "minItems": LENGTH_VIOLATION,
    "maxItems": LENGTH_VIOLATION,
    "minProperties": LENGTH_VIOLATION,
    "maxProperties": LENGTH_VIOLATION,
    "uniqueItems": LENGTH_VIOLATION,
    "contains": LENGTH_VIOLATION,
    "minContains": LENGTH_VIOLATION,
    "maxContains": LENGTH_VIOLATION,
    "pattern": FORMAT_VIOLATION,
    "format": FORMAT_VIOLATION,
}
# Schema-path segments after which the next segment is a name or an index, not a keyword.
_NAMING_KEYWORDS: Final = frozenset(
    {
        "properties",
        "patternProperties",
        "dependentSchemas",
        "dependencies",
        "$defs",
        "definitions",
        "allOf",
        "anyOf",
        "oneOf",
        "prefixItems",
    }
)


def _error_category(error: ValidationError) -> str:
    keyword = error.validator
    if keyword is None:  # a `false` subschema, as in `properties: {x: false}`
        return UNEXPECTED_FIELD
    if keyword == "items" and error.validator_value is False:  # 2020-12 `items: false`
        return UNEXPECTED_FIELD
    if _under_property_names(error.relative_schema_path):
        # jsonschema reports the inner keyword (maxLength, pattern...) of a failed name.
        return UNEXPECTED_FIELD
    return _KEYWORD_CATEGORY.get(str(keyword), SCHEMA_VIOLATION)


def _under_property_names(schema_path: Iterable[object]) -> bool:
    naming = False
    for segment in schema_path:
        if naming:
            naming = False
            continue
        if segment == "propertyNames":
            return True
        naming = segment in _NAMING_KEYWORDS
    return False


def _json_path(parts: Iterable[object]) -> str:
    path = ["$"]
    for part in parts:
        if isinstance(part, int):
            path.append(f"[{part}]")
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            path.append(f".{part}")
        else:
            path.append(f"[{snippet(str(part), 40)}]")
    return "".join(path)


class CompiledSchema:
    """A checked JSON Schema with its validators, built once and reused for every output.

    Get one from `compile_schema`; `parse_json` also accepts it in place of the schema.
    """

    __slots__ = ("_base", "_fast", "_lenient", "_strict", "schema")

    def __init__(self, schema: Mapping[str, Any] | bool, base: type[Validator]) -> None:
        self.schema = schema
        self._base = base
        self._strict: Validator | None = None
        self._lenient: Validator | None = None
        self._fast: dict[bool, Check | None] = {}

    def __repr__(self) -> str:
        return f"CompiledSchema({shorten(repr(self.schema), 80)})"

    def validator(self, strict: bool = True) -> Validator:
        """The jsonschema validator for this mode (strict: `2.0` is not an integer)."""
        if strict:
            if self._strict is None:
                self._strict = _validator(strict_class(self._base), self.schema)
            return self._strict
        if self._lenient is None:
            self._lenient = _validator(lenient_class(self._base), self.schema)
        return self._lenient

    def _fast_check(self, strict: bool) -> Check | None:
        if strict not in self._fast:
            fast = None
            if self._base is Draft202012Validator:  # the semantics the pre-check mirrors
                fast = compile_fast(
                    self.schema,
                    strict,
                    lenient_class(self._base).FORMAT_CHECKER,
                    self._base.VALIDATORS,
                )
            self._fast[strict] = fast
        return self._fast[strict]

    def check(self, value: Any, *, strict: bool = True) -> tuple[str, str]:
        """`(category, detail)` for `value`: `(VALID, "")`, or the highest schema category.

        Raises `InvalidSchemaError` when the schema turns out to be unusable (a `$ref`
        that cannot be resolved); never raises for any value.
        """
        validator = self.validator(strict)
        fast = self._fast_check(strict)
        try:
            if fast is not None:
                if fast(value):
                    return VALID, ""
            elif validator.is_valid(value):
                return VALID, ""
            chosen: ValidationError | None = None
            chosen_rank = len(CATEGORIES)
            for error in validator.iter_errors(value):
                rank = _RANK[_error_category(error)]
                if rank < chosen_rank:
                    chosen, chosen_rank = error, rank
                    if rank == _RANK[MISSING_FIELD]:
                        break  # nothing ranks higher
        except Unresolvable as error:
            raise InvalidSchemaError(
                f"invalid JSON Schema: cannot resolve reference {shorten(str(error), 120)}"
                " (schemas are never fetched: put a schema it refers to in $defs, with its $id)"
            ) from None
        except RecursionError:
            return SCHEMA_VIOLATION, "the value is nested too deeply to check against the schema"
        except InvalidSchemaError:  # a pattern past its time limit: the schema's fault
            raise
        except Exception as error:  # a format checker that crashed: still never raise
            return SCHEMA_VIOLATION, shorten(
                f"checking the value against the schema failed: {type(error).__name__}: {error}"
            )
        if chosen is None:  # is_valid and iter_errors disagree: treat as valid
            return VALID, ""
        category = CATEGORIES[chosen_rank]
        message = shorten(chosen.message)
        if category == UNEXPECTED_FIELD and _under_property_names(chosen.relative_schema_path):
            message = f"property name {message}"
        detail = f"{_json_path(chosen.absolute_path)}: {message}"
        if (
            strict
            and category == TYPE_MISMATCH
            and isinstance(chosen.instance, float)
            and chosen.instance.is_integer()
            and "integer" in str(chosen.validator_value)
        ):
            detail += " (strict mode: an integer must be written without a fraction or exponent)"
        return category, detail


def compile_schema(schema: Mapping[str, Any] | bool | CompiledSchema) -> CompiledSchema:
    """Check `schema` and build its reusable validators; cached by the schema's content.

    Uses the draft named by `$schema`, else Draft 2020-12, with `format` checked. Raises
    `InvalidSchemaError` with a one-line message naming what is wrong, so callers can
    reject a bad schema at collection time.
    """
    if isinstance(schema, CompiledSchema):
        return schema
    if not isinstance(schema, (Mapping, bool)):
        raise InvalidSchemaError(
            f"invalid JSON Schema: expected an object or a boolean, got {type(schema).__name__}"
        )
    try:
        # A canonical dump keys the cache by content, so an equal schema built anew for
        # every call still reuses one validator, and a mutated dict never hits a stale one.
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidSchemaError(
            f"invalid JSON Schema: not plain JSON ({shorten(str(error), 120)})"
        ) from None
    return _compile_canonical(key)


@lru_cache(maxsize=256)
def _compile_canonical(key: str) -> CompiledSchema:
    schema: Mapping[str, Any] | bool = json.loads(key)
    base: type[Validator] = validator_for(schema, default=Draft202012Validator)
    try:
        # The meta-schema's `regex` format read as patterns are: ECMA-262 syntax passes.
        dialect = lenient_class(base)
        dialect.check_schema(schema, format_checker=dialect.FORMAT_CHECKER)  # type: ignore[arg-type, call-arg]
    except SchemaError as error:
        where = _json_path(error.absolute_path)
        raise InvalidSchemaError(
            f"invalid JSON Schema at {where}: {shorten(error.message, 160)}"
        ) from None
    pattern = ecma_patterns_beside_unevaluated(schema)
    if pattern is not None:
        raise InvalidSchemaError(
            f"invalid JSON Schema: the patternProperties pattern {snippet(pattern, 60)} is"
            " ECMA-262 syntax Python's re does not read, which unevaluatedProperties cannot"
            " use; write it in syntax both read"
        )
    return CompiledSchema(schema, base)


def _validator(cls: type[Validator], schema: Mapping[str, Any] | bool) -> Validator:
    return cls(schema, format_checker=cls.FORMAT_CHECKER, registry=OFFLINE)  # type: ignore[call-arg]
