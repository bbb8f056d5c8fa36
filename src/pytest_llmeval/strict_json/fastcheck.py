"""The fast schema pre-check: a schema compiled once into plain closures.

jsonschema builds a validator object per subschema it descends into, which costs ~300 µs
for a 50-node schema. The pre-check covers the keywords real output schemas use and is
conservative: True only when jsonschema would accept the value too, None (no pre-check)
for a schema it does not understand, and False whenever unsure. False just sends the
value to jsonschema, which stays the authority for every verdict and message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from pytest_llmeval.strict_json.patterns import PatternError, compile_pattern

_DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"

Check = Callable[[Any], bool]


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _type_check(names: object, strict: bool) -> Check | None:
    wanted = [names] if isinstance(names, str) else names
    if not isinstance(wanted, list) or not all(isinstance(name, str) for name in wanted):
        return None
    exact: set[type] = set()
    lenient_integer = False
    for name in wanted:
        if name == "integer":
            exact.add(int)
            lenient_integer = not strict
        elif name == "number":
            exact.update((int, float))
        elif name in _EXACT_TYPES:
            exact.add(_EXACT_TYPES[name])
        else:
            return None
    kinds = frozenset(exact)
    if lenient_integer and float not in kinds:

        def check(value: Any) -> bool:
            kind = type(value)
            return kind in kinds or (kind is float and value.is_integer())

        return check
    return lambda value: type(value) in kinds


_EXACT_TYPES: Final[dict[str, type]] = {
    "string": str,
    "object": dict,
    "array": list,
    "boolean": bool,
    "null": type(None),
}


def _enum_check(members: object) -> Check | None:
    if not isinstance(members, list):
        return None
    if all(type(member) is str for member in members):
        allowed = frozenset(members)
        return lambda value: type(value) is str and value in allowed
    if any(isinstance(member, (dict, list)) for member in members):
        return None  # jsonschema's structural equality: leave it to jsonschema
    pairs = tuple(members)
    # Same type and equal: stricter than jsonschema (which has 1 == 1.0), never looser.
    return lambda value: any(type(value) is type(m) and value == m for m in pairs)


class _References:
    """The `$ref`s of one document that the pre-check follows: JSON pointers into it.

    Only a document without a nested `$id` qualifies: there every `#/...` resolves against
    the document itself. Other references (relative URIs, `#anchor`, `$dynamicRef`) and
    documents with nested resources are left to jsonschema.
    """

    def __init__(self, root: object) -> None:
        self.root = root
        self._cells: dict[int, list[Check]] = {}

    @classmethod
    def of(cls, root: object) -> _References | None:
        pending = [] if not isinstance(root, dict) else list(root.values())
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                if "$id" in node:
                    return None
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)
        return cls(root)

    def check(
        self, ref: object, strict: bool, format_checker: Any, known: Mapping[str, Any]
    ) -> Check | None:
        target = self._target(ref)
        if target is _NOWHERE:
            return None
        key = id(target)
        cell = self._cells.get(key)
        if cell is None:
            # Filled once compiled; a reference back into it (a recursive schema) reads it
            # through the cell, at check time.
            cell = self._cells[key] = [_never]
            compiled = _compile(target, strict, format_checker, known, self)
            if compiled is None:
                return None
            cell[0] = compiled
        return lambda value: cell[0](value)

    def _target(self, ref: object) -> object:
        if not isinstance(ref, str) or not ref.startswith("#") or "%" in ref:
            return _NOWHERE
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return _NOWHERE  # an anchor
        node = self.root
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return _NOWHERE
        return node


_NOWHERE: Final = object()


def compile_fast(
    schema: object, strict: bool, format_checker: Any, known: Mapping[str, Any]
) -> Check | None:
    """A predicate equivalent to (or stricter than) jsonschema's, or None if unsupported."""
    return _compile(schema, strict, format_checker, known, _References.of(schema))


def _compile(
    schema: object,
    strict: bool,
    format_checker: Any,
    known: Mapping[str, Any],
    references: _References | None,
) -> Check | None:
    """`compile_fast` of a subschema of the document whose `references` are given."""
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        return None
    if any(keyword in known and keyword not in _FAST_KEYWORDS for keyword in schema):
        return None  # `$dynamicRef` among them
    if str(schema.get("$schema", _DRAFT_2020_12)).rstrip("#") != _DRAFT_2020_12:
        return None  # jsonschema reads this subschema as another draft
    general: list[Check] = []
    numeric: list[Check] = []
    textual: list[Check] = []
    listed: list[Check] = []
    objects: list[Check] = []

    if "$ref" in schema:
        if references is None:
            return None  # base URIs from nested `$id`s are jsonschema's job
        check = references.check(schema["$ref"], strict, format_checker, known)
        if check is None:
            return None
        general.append(check)
    if "type" in schema:
        check = _type_check(schema["type"], strict)
        if check is None:
            return None
        general.append(check)
    for keyword in ("enum", "const"):
        if keyword in schema:
            members = schema[keyword] if keyword == "enum" else [schema[keyword]]
            check = _enum_check(members)
            if check is None:
                return None
            general.append(check)
    if "format" in schema and format_checker is not None:
        name = schema["format"]
        conforms = format_checker.conforms
        general.append(lambda value: bool(conforms(value, name)))

    bounds = [(keyword, schema[keyword]) for keyword in _NUMERIC if keyword in schema]
    for keyword, limit in bounds:
        if type(limit) not in (int, float):
            return None
        numeric.append(_NUMERIC[keyword](limit))
    if "multipleOf" in schema:
        step = schema["multipleOf"]
        if type(step) is not int:
            return None
        numeric.append(lambda value: type(value) is int and value % step == 0)

    if "minLength" in schema:
        shortest = schema["minLength"]
        textual.append(lambda value: len(value) >= shortest)
    if "maxLength" in schema:
        longest = schema["maxLength"]
        textual.append(lambda value: len(value) <= longest)
    if "pattern" in schema:
        try:
            search = compile_pattern(schema["pattern"])
        except (PatternError, TypeError):
            return None
        textual.append(lambda value: search(value) is not None)

    if "minItems" in schema:
        fewest = schema["minItems"]
        listed.append(lambda value: len(value) >= fewest)
    if "maxItems" in schema:
        most = schema["maxItems"]
        listed.append(lambda value: len(value) <= most)
    if schema.get("uniqueItems") is True:
        # Only lists of strings are decided here; anything else goes to jsonschema.
        listed.append(
            lambda value: all(type(item) is str for item in value) and len(set(value)) == len(value)
        )
    if "items" in schema:
        item_check = _compile(schema["items"], strict, format_checker, known, references)
        if item_check is None:
            return None
        listed.append(lambda value: all(item_check(item) for item in value))

    if "required" in schema:
        required = frozenset(schema["required"])
        objects.append(lambda value: value.keys() >= required)
    if "minProperties" in schema:
        fewest_keys = schema["minProperties"]
        objects.append(lambda value: len(value) >= fewest_keys)
    if "maxProperties" in schema:
        most_keys = schema["maxProperties"]
        objects.append(lambda value: len(value) <= most_keys)
    if "properties" in schema or "additionalProperties" in schema:
        members_check = _properties_check(schema, strict, format_checker, known, references)
        if members_check is None:
            return None
        objects.append(members_check)

    return _node_check(general, numeric, textual, listed, objects)


def _numeric_bound(compare: Callable[[Any, Any], bool]) -> Callable[[Any], Check]:
    return lambda limit: lambda value: compare(value, limit)


_NUMERIC: Final[dict[str, Callable[[Any], Check]]] = {
    "minimum": _numeric_bound(lambda value, limit: value >= limit),
    "maximum": _numeric_bound(lambda value, limit: value <= limit),
    "exclusiveMinimum": _numeric_bound(lambda value, limit: value > limit),
    "exclusiveMaximum": _numeric_bound(lambda value, limit: value < limit),
}
_FAST_KEYWORDS: Final = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "required",
        "minProperties",
        "maxProperties",
        "properties",
        "additionalProperties",
    }
)


def _properties_check(
    schema: dict[str, Any],
    strict: bool,
    format_checker: Any,
    known: Mapping[str, Any],
    references: _References | None,
) -> Check | None:
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return None
    checks: dict[str, Check] = {}
    for name, subschema in properties.items():
        check = _compile(subschema, strict, format_checker, known, references)
        if check is None:
            return None
        checks[name] = check
    extra = schema.get("additionalProperties", True)
    extra_check = _compile(extra, strict, format_checker, known, references)
    if extra_check is None:
        return None

    def check_members(value: dict[str, Any]) -> bool:
        # Plain loops, not all(genexpr): this runs for every member of every output.
        for name, member in value.items():  # noqa: SIM110
            if not checks.get(name, extra_check)(member):
                return False
        return True

    return check_members


def _node_check(
    general: list[Check],
    numeric: list[Check],
    textual: list[Check],
    listed: list[Check],
    objects: list[Check],
) -> Check:
    by_type: dict[type, tuple[Check, ...]] = {
        int: tuple(numeric),
        float: tuple(numeric),
        str: tuple(textual),
        list: tuple(listed),
        dict: tuple(objects),
        bool: (),
        type(None): (),
    }
    first = tuple(general)

    def check(value: Any) -> bool:
        specific = by_type.get(type(value))
        if specific is None:
            return False  # not a plain JSON value: let jsonschema decide
        for test in first:
            if not test(value):
                return False
        for test in specific:  # noqa: SIM110 (a loop is faster than all() here)
            if not test(value):
                return False
        return True

    return check
