"""Turn a JSONL dataset (fine-tuning samples or input/expected rows) into eval cases."""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmeval.calls.tool_calls import ToolCall, tool_calls_from
from pytest_llmeval.data.finetune_rows import ROLES, read_jsonl, value_kind
from pytest_llmeval.errors import DatasetError
from pytest_llmeval.support.messages import prompt_text
from pytest_llmeval.support.paths import shown_path

__all__ = ["Case", "cases", "iter_cases", "resolve_dataset_path"]

_ROLE_LIST = ", ".join(ROLES)
# Fields with a meaning of their own; every other field of a row goes to `Case.meta`.
_RESERVED = frozenset({"id", "messages", "input", "expected", "system"})


@dataclass(frozen=True, slots=True)  # slots: 100,000 cases are held from collection on
class Case:
    """One eval case: the request to send and what the reply is expected to be.

    `expected` is the content of a fine-tuning sample's last assistant message (a string, a
    list of chunks, or None when that message only holds `tool_calls`), or the `expected`
    field of an `input` row (any JSON value; None when absent). `expected_tool_calls` are
    the `tool_calls` of that last assistant message (empty when it calls none), arguments
    as the row's raw text.
    """

    id: str
    messages: tuple[dict[str, Any], ...]
    expected: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    expected_tool_calls: list[ToolCall] = field(default_factory=list)

    # Equal cases have equal ids and sources, so hashing those two keeps the contract while
    # the dict fields stay plain dicts.
    def __hash__(self) -> int:
        return hash((self.id, self.source))

    def __repr__(self) -> str:
        return f"Case(id={self.id!r}, source={self.source!r})"

    @property
    def prompt(self) -> str:
        """The text of the last user message (text chunks joined by new lines)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return prompt_text(message.get("content"))
        return ""

    @property
    def human_score(self) -> float | None:
        """The row's `human_score` (a person's score of the expected reply, for the judge's
        calibration), or None when the row has none."""
        value = self.meta.get("human_score")
        return None if value is None else float(value)

    @property
    def expected_json(self) -> Any:
        """`expected` parsed as JSON when it is a string, as a strict-format task's reply is.

        Raises `ValueError` naming the case's source line when that string is not JSON: the
        dataset, not the model, is wrong then.
        """
        if not isinstance(self.expected, str):
            return self.expected
        try:
            return json.loads(self.expected)
        except ValueError as error:
            raise ValueError(f"{self.source}: the expected reply is not JSON ({error})") from None


def cases(path: str | os.PathLike[str], *, limit: int | None = None) -> list[Case]:
    """Read a JSONL dataset into a list of cases, e.g. for `pytest.mark.parametrize`.

    A relative `path` is looked up first in the directory of the file that calls `cases()`
    (normally the test module), then in the current working directory. `limit` keeps only
    the first `limit` cases. Raises `DatasetError` naming the file and line of a bad row.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be zero or more, not {limit}")
    resolved = resolve_dataset_path(path, _caller_file())
    return list(itertools.islice(_read_cases(resolved, _display_name(resolved)), limit))


def iter_cases(path: str | os.PathLike[str]) -> Iterator[Case]:
    """Yield the cases of a JSONL dataset one at a time, reading the file line by line.

    The path is resolved (and a missing file reported) at the call, as by `cases()`; rows are
    read and checked only as the iterator is consumed.
    """
    resolved = resolve_dataset_path(path, _caller_file())
    return _read_cases(resolved, _display_name(resolved))


def resolve_dataset_path(path: str | os.PathLike[str], caller_file: str | None) -> Path:
    """Where a dataset named `path` lives, seen from the module `caller_file`.

    An absolute path is used as is. A relative one is taken relative to the directory of
    `caller_file` when the file exists there, else relative to the current working directory.
    """
    given = Path(path)
    candidates: list[Path] = []
    if given.is_absolute():
        candidates.append(given)
    else:
        if caller_file:
            candidates.append(Path(caller_file).resolve().parent / given)
        candidates.append(Path.cwd() / given)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = " nor ".join(str(candidate) for candidate in dict.fromkeys(candidates))
    raise DatasetError(f"dataset file not found: {looked}; check the path given to cases()")


def _caller_file() -> str | None:
    # Two frames up: the public function's caller (the test module, usually).
    caller = sys._getframe(2)
    file = caller.f_globals.get("__file__")
    return file if isinstance(file, str) else None


def _display_name(resolved: Path) -> str:
    """The path as errors and `Case.source` show it: relative to the working directory if under."""
    return shown_path(resolved, Path.cwd())


def _read_cases(resolved: Path, name: str) -> Iterator[Case]:
    ids = IdRegistry(name)
    turns = _SharedTurns()
    for line in read_jsonl(resolved):
        if line.blank:
            continue
        if line.row is None:
            assert line.problem is not None
            raise DatasetError(f"{name}:{line.number}: {line.problem.message}")
        case, explicit_id = case_from_row(line.row, f"{name}:{line.number}", line.number)
        ids.claim(case.id, line.number, explicit=explicit_id)
        turns.share(case.messages)
        yield case


class _SharedTurns:
    """One string for each text that opens many rows' conversations: the system prompt and
    any few-shot turns, decoded anew for every row, are then held once for the whole file
    (250 bytes a row for a short system prompt; 25 MB over 100,000 rows). A row's last turn,
    the case's own prompt, is left as it is: it is seldom repeated."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def share(self, messages: tuple[dict[str, Any], ...]) -> None:
        shared = self._texts.setdefault
        for message in messages[:-1]:
            content = message.get("content")
            if type(content) is str:
                message["content"] = shared(content, content)


class IdRegistry:
    """Finds duplicate ids without keeping one entry per row of a large file.

    Rows without an `id` are named by their line number, unique among themselves; such a
    row clashes only with an explicit id spelled like its line number. Explicit ids are
    kept in a dict; rows named by line number are one byte each in a bytearray.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._explicit: dict[str, int] = {}
        self._numbered = bytearray()

    def claim(self, case_id: str, line: int, *, explicit: bool) -> None:
        if explicit:
            earlier = self._explicit.get(case_id)
            if earlier is None and case_id.isdigit() and str(int(case_id)) == case_id:
                numbered_line = int(case_id)
                if numbered_line < len(self._numbered) and self._numbered[numbered_line]:
                    earlier = numbered_line
            if earlier is None:
                self._explicit[case_id] = line
        else:
            earlier = self._explicit.get(case_id)
            if len(self._numbered) <= line:
                self._numbered.extend(bytes(line + 1 - len(self._numbered)))
            self._numbered[line] = 1
        if earlier is not None:
            raise DatasetError(
                f"{self._name}:{line}: id {case_id!r} is already used on line {earlier}; "
                "give every row a different id"
            )


def case_from_row(row: dict[str, Any], where: str, number: int) -> tuple[Case, bool]:
    """The case a row makes (`where` is "file:line"), and whether its id was given.

    Without an `id` the case is named by its line `number`. Raises `DatasetError` naming
    `where` and what to change.
    """
    case_id = _row_id(row, where) if "id" in row else str(number)
    meta = {key: value for key, value in row.items() if key not in _RESERVED}
    _check_human_score(meta.get("human_score"), where)
    if "messages" in row:
        for misplaced in ("input", "expected", "system"):
            if misplaced in row:
                raise DatasetError(
                    f'{where}: row has both "messages" and "{misplaced}"; {_MISPLACED[misplaced]}'
                )
        messages, expected = _fine_tuning_sample(row["messages"], where)
        tool_calls = tool_calls_from(row["messages"][-1].get("tool_calls"))
    elif "input" in row:
        messages = _input_messages(row, where)
        expected = row.get("expected")
        tool_calls = []
    else:
        raise DatasetError(f'{where}: row has neither "messages" nor "input"; give one of them')
    case = Case(
        id=case_id,
        messages=messages,
        expected=expected,
        meta=meta,
        source=where,
        expected_tool_calls=tool_calls,
    )
    return case, "id" in row


def _check_human_score(value: Any, where: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DatasetError(
            f'{where}: "human_score" is {value_kind(value)}; give the score a person gave, a number'
        )


_MISPLACED = {
    "input": "give only one of them",
    "expected": "a fine-tuning sample's expected reply is its last assistant message",
    "system": 'put the system prompt in "messages" as a "system" message',
}


def _row_id(row: dict[str, Any], where: str) -> str:
    value = row["id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DatasetError(f'{where}: "id" is {value_kind(value)}; give a string or an integer')
    text = str(value)
    if not text.strip():
        raise DatasetError(f'{where}: "id" is empty; give a non-empty string or an integer')
    return text


def _fine_tuning_sample(messages: Any, where: str) -> tuple[tuple[dict[str, Any], ...], Any]:
    if not isinstance(messages, list) or not messages:
        raise DatasetError(
            f'{where}: "messages" is {value_kind(messages)}; give a non-empty list of messages'
        )
    for index, message in enumerate(messages):
        _check_message(message, index, where)
    last = messages[-1]
    if last["role"] != "assistant":
        raise DatasetError(
            f'{where}: the last message is "{last["role"]}"; a fine-tuning sample ends with '
            "the assistant message (the expected reply)"
        )
    sent = tuple(messages[:-1])
    if not any(message["role"] == "user" for message in sent):
        raise DatasetError(
            f'{where}: no "user" message before the final assistant message; '
            "add the user's request before it"
        )
    return sent, last.get("content")


def _check_message(message: Any, index: int, where: str) -> None:
    label = f"messages[{index}]"
    if not isinstance(message, dict):
        raise DatasetError(
            f"{where}: {label} is {value_kind(message)}, not an object; a message is "
            '{"role": ..., "content": ...}'
        )
    role = message.get("role")
    if role is None:
        raise DatasetError(f'{where}: {label} has no "role"; roles are {_ROLE_LIST}')
    if role not in ROLES:
        shown = json.dumps(role, ensure_ascii=False) if isinstance(role, str) else value_kind(role)
        raise DatasetError(f"{where}: {label} has role {shown}; roles are {_ROLE_LIST}")
    content = message.get("content")
    if content is None or content == "":
        if role == "assistant" and message.get("tool_calls"):
            return
        if content is None:
            raise DatasetError(f'{where}: {label} has no "content"; give the message text')
    if isinstance(content, list):
        for chunk_index, chunk in enumerate(content):
            if not isinstance(chunk, dict):
                raise DatasetError(
                    f"{where}: {label}.content[{chunk_index}] is {value_kind(chunk)}, not an "
                    'object; a chunk is {"type": "text", "text": ...}'
                )
    elif not isinstance(content, str):
        raise DatasetError(
            f"{where}: {label}.content is {value_kind(content)}; give a string or a list of chunks"
        )


def _input_messages(row: dict[str, Any], where: str) -> tuple[dict[str, Any], ...]:
    text = row["input"]
    if not isinstance(text, str):
        raise DatasetError(
            f'{where}: "input" is {value_kind(text)}; give the user message as a string'
        )
    messages: list[dict[str, Any]] = []
    if "system" in row:
        system = row["system"]
        if not isinstance(system, str):
            raise DatasetError(
                f'{where}: "system" is {value_kind(system)}; give the system prompt as a string'
            )
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": text})
    return tuple(messages)
