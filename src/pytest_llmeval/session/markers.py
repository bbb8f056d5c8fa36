"""The llm markers: their signatures, their validation, and what they say about a test."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_llmeval.case_record import GroupSettings

EVAL_FIXTURES = frozenset(
    {"llm", "llm_json", "llm_judge", "llm_moderation", "llm_score", "llm_reply"}
)
GROUP_MARKERS = ("llm_metric", "llm_judge", "llm_safety")

# Parameters of the SDK's chat call that a test may set through llm_prompt; the rest
# (model, messages, retries, server_url, ...) belong to the plugin.
_NOT_PROMPT_PARAMS = {
    "self",
    "model",
    "messages",
    "retries",
    "server_url",
    "timeout_ms",
    "http_headers",
    "stream",
}


# The usual ones, checked without importing the SDK (half a second a session, which a replayed
# run would otherwise pay for nothing); any other name is looked up in the installed SDK. A
# test keeps this a subset of the SDK's parameters.
COMMON_PROMPT_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "safe_prompt",
        "prediction",
        "parallel_tool_calls",
    }
)


@functools.cache
def prompt_params() -> frozenset[str]:
    """The SDK chat call's parameters, read from the installed SDK the first time they matter."""
    from mistralai.client.chat import Chat

    signature = inspect.signature(Chat.complete_async)
    return frozenset(name for name in signature.parameters if name not in _NOT_PROMPT_PARAMS)


def llm_metric(name: str, threshold: float | None = None) -> None:
    """The case belongs to metric group `name`; the group passes at a pass rate of `threshold`."""


def llm_judge(
    name: str,
    threshold: float | None = None,
    min_score: float | None = None,
    rubric: str | None = None,
) -> None:
    """A judge group: `llm_judge.score()` fails a case below `min_score`, with `rubric`."""


def llm_safety(name: str, max_unsafe: int = 0) -> None:
    """A safety group: at most `max_unsafe` of its cases may fail."""


def llm_prompt(system: str | None = None, **params: Any) -> None:
    """How the test's model calls are made: system prompt and the SDK's chat parameters."""


SIGNATURES: Mapping[str, Callable[..., None]] = {
    "llm_metric": llm_metric,
    "llm_judge": llm_judge,
    "llm_safety": llm_safety,
    "llm_prompt": llm_prompt,
}

MARKER_HELP = {
    "llm_metric": "llm_metric(name, threshold=None): the case belongs to metric group `name`; "
    "the group passes when its pass rate is at least `threshold`.",
    "llm_judge": "llm_judge(name, threshold=None, min_score=None, rubric=None): an LLM-judge "
    "group.",
    "llm_safety": "llm_safety(name, max_unsafe=0): a safety group; at most `max_unsafe` "
    "failing cases.",
    "llm_prompt": "llm_prompt(system=None, **params): system prompt and chat parameters "
    "(temperature, max_tokens, response_format, ...) of the test's model calls.",
}


class MarkerError(ValueError):
    """A marker's arguments do not fit its signature or its ranges."""


@dataclass(frozen=True)
class CaseSettings:
    """What an eval case's markers say: its group and how its model calls are made."""

    group: GroupSettings
    system: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


SETTINGS_KEY = pytest.StashKey[CaseSettings]()
# --llm-shard: an eval case's place among the eval cases collected before the split, which
# `llmeval merge` lists the shards' cases by (session/shard.py sets it).
SHARD_ORDER_KEY = pytest.StashKey[int]()
"""An eval case's `CaseSettings`, stashed on its item at collection."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a misspelt name close to one of `choices`, else ''."""
    import difflib  # only for a mistake: not worth loading for every session

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


@functools.cache
def _signature(name: str) -> inspect.Signature:
    """A marker's signature, read once: every eval case's markers are bound against it."""
    return inspect.signature(SIGNATURES[name])


def _bind(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    signature = _signature(name)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        known = [key for key in signature.parameters if key != "params"]
        hints = "".join(did_you_mean(key, known) for key in kwargs if key not in known)
        problem = f"{error}{hints}"
        raise MarkerError(
            f"@pytest.mark.{name}: {problem}; the signature is {MARKER_HELP[name]}"
        ) from None
    bound.apply_defaults()
    return dict(bound.arguments)


def _check_rate(marker: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise MarkerError(
            f"@pytest.mark.{marker}: {key}={value!r} is outside 0 to 1; use a rate such as 0.9"
        )
    return float(value)


_SETTINGS_MARKERS = frozenset((*GROUP_MARKERS, "llm_prompt"))


def is_eval_case(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & EVAL_FIXTURES) or any(
        item.get_closest_marker(name) is not None for name in _SETTINGS_MARKERS
    )


def settings_key(item: pytest.Item) -> tuple[tuple[str, tuple[int, ...]], tuple[Any, ...]]:
    """What `case_settings` reads of an item, as a key and the marks it names: items with
    the same key have the same settings (the cases of one parametrized function share them).
    Keep the marks while the key is kept, so that their ids stay theirs."""
    original = getattr(item, "originalname", None) or item.name
    marks = tuple(m for m in item.iter_markers() if m.name in _SETTINGS_MARKERS)
    return (original, tuple(map(id, marks))), marks


def case_settings(item: pytest.Item) -> CaseSettings:
    """Reads and checks the item's llm markers; raises `MarkerError` naming what is wrong."""
    # Only eval cases get here: a suite without them never loads the case record.
    from pytest_llmeval.case_record import GroupSettings

    group_marks = [m for m in item.iter_markers() if m.name in GROUP_MARKERS]
    if len({m.name for m in group_marks}) > 1:
        raise MarkerError(
            "a case belongs to one group: use only one of @pytest.mark.llm_metric,"
            " llm_judge, llm_safety"
        )
    original = getattr(item, "originalname", None) or item.name
    group = GroupSettings(group=original)
    if group_marks:
        mark = group_marks[0]  # the closest one: a function's marker wins over its class's
        arguments = _bind(mark.name, mark.args, mark.kwargs)
        name = arguments["name"]
        if not isinstance(name, str) or not name.strip():
            raise MarkerError(
                f"@pytest.mark.{mark.name}: name must be a non-empty string, not {name!r}"
            )
        threshold = _check_rate(mark.name, "threshold", arguments.get("threshold"))
        if mark.name == "llm_metric":
            group = GroupSettings(group=name, kind="metric", threshold=threshold)
        elif mark.name == "llm_judge":
            min_score = arguments.get("min_score")
            if min_score is not None and (
                isinstance(min_score, bool) or not isinstance(min_score, (int, float))
            ):
                raise MarkerError(
                    f"@pytest.mark.llm_judge: min_score={min_score!r} is not a number"
                )
            rubric = arguments.get("rubric")
            if rubric is not None and not isinstance(rubric, str):
                raise MarkerError(f"@pytest.mark.llm_judge: rubric={rubric!r} is not a string")
            group = GroupSettings(
                group=name,
                kind="judge",
                threshold=threshold,
                min_score=float(min_score) if min_score is not None else None,
                rubric=rubric,
            )
        else:
            max_unsafe = arguments.get("max_unsafe")
            if isinstance(max_unsafe, bool) or not isinstance(max_unsafe, int) or max_unsafe < 0:
                raise MarkerError(
                    f"@pytest.mark.llm_safety: max_unsafe={max_unsafe!r} must be a whole number"
                    " of 0 or more"
                )
            group = GroupSettings(group=name, kind="safety", max_unsafe=max_unsafe)
    system: str | None = None
    params: dict[str, Any] = {}
    # Outer markers first, so a function's llm_prompt overrides its module's or class's.
    for mark in reversed(list(item.iter_markers("llm_prompt"))):
        arguments = _bind("llm_prompt", mark.args, mark.kwargs)
        extra = arguments.pop("params", {})
        rare = set(extra) - COMMON_PROMPT_PARAMS
        unknown = sorted(rare - prompt_params()) if rare else []
        if unknown:
            named = ", ".join(f"{key!r}{did_you_mean(key, prompt_params())}" for key in unknown)
            raise MarkerError(
                f"@pytest.mark.llm_prompt: unknown parameter {named}; the"
                f" chat parameters are {', '.join(sorted(prompt_params()))}"
            )
        if arguments.get("system") is not None:
            if not isinstance(arguments["system"], str):
                raise MarkerError(
                    f"@pytest.mark.llm_prompt: system={arguments['system']!r} is not a string"
                )
            system = arguments["system"]
        params.update(extra)
    return CaseSettings(group=group, system=system, params=params)
