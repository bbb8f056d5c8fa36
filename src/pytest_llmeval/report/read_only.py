"""A read-only view of a finished report, for code the plugin does not own to read it.

`pytest_llmeval_report` implementations and users' gate rules live in a conftest.py, which
a pull request can change. They get this view: every figure reads as on the report, nothing
can be set or deleted (`ReadOnlyReportError`), lists read as tuples, dictionaries as
dictionaries that refuse changes, and what a method returns (`to_dict()`) is a copy of its own.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

_PLAIN = (str, int, float, bool, bytes, type(None))


class ReadOnlyReportError(AttributeError):
    """Something tried to change the report through its read-only view."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the llmeval report is read-only here (setting {name!r}): the verdict comes from"
            " the gate rules alone; to block on something more, return a rule from"
            " pytest_llmeval_gate_rules"
        )


def read_only(value: Any) -> Any:
    """`value` as a read-only view: plain values as they are, lists as tuples, dictionaries as
    `FrozenDict`s (both still what `json.dumps` takes), other objects wrapped."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({key: read_only(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(read_only(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    return ObjectView(value)


class FrozenDict(dict[Any, Any]):
    """A dictionary that refuses every change (a dict still, so JSON encodes it)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise ReadOnlyReportError("an item")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        raise TypeError("unhashable type: 'FrozenDict'")


class ObjectView:
    """An object's attributes, read-only; its methods' results are copies."""

    __slots__ = ("_target",)

    def __init__(self, target: object) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        value = getattr(object.__getattribute__(self, "_target"), name)
        if callable(value) and hasattr(value, "__self__"):
            return _detached_method(value)
        return read_only(value)

    def __setattr__(self, name: str, value: object) -> None:
        raise ReadOnlyReportError(name)

    def __delattr__(self, name: str) -> None:
        raise ReadOnlyReportError(name)

    def __repr__(self) -> str:
        return f"read-only {object.__getattribute__(self, '_target')!r}"

    def __eq__(self, other: object) -> bool:
        target = object.__getattribute__(self, "_target")
        if isinstance(other, ObjectView):
            other = object.__getattribute__(other, "_target")
        return bool(target == other)

    __hash__ = None  # type: ignore[assignment]


def _detached_method(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return _copy(method(*args, **kwargs))

    call.__name__ = getattr(method, "__name__", "method")
    call.__doc__ = getattr(method, "__doc__", None)
    return call


def _copy(value: Any) -> Any:
    """A copy that shares nothing with the report: JSON's round trip for the JSON report
    (fast, in C, on 100,000 cases), a deep copy for anything JSON does not hold."""
    if isinstance(value, _PLAIN):
        return value
    try:
        return json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError):
        return copy.deepcopy(value)
