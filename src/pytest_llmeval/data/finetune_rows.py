"""Read Mistral fine-tuning JSONL files line by line and say what is wrong with each row."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec.json

from pytest_llmeval.errors import json_decode_problem, json_kind
from pytest_llmeval.support.messages import prompt_text

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "ROLES",
    "JsonlLine",
    "Problem",
    "check_sample",
    "read_jsonl",
    "user_texts",
    "value_kind",
]

ROLES: Final = ("system", "user", "assistant", "tool")
_ROLE_LIST: Final = ", ".join(ROLES)
# No real sample comes near this (it is millions of tokens); past it a line is reported and
# skipped unread, so that one hostile line cannot take the checker's memory.
DEFAULT_MAX_LINE_BYTES: Final = 16 * 1024 * 1024
_BOM: Final = b"\xef\xbb\xbf"
_SKIP_CHUNK: Final = 1024 * 1024
# Mistral's tokenizers (v3 and later) accept these and nothing else; mistral-finetune
# validates every sample with them before training.
_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_CALL_ID: Final = re.compile(r"[a-zA-Z0-9]{9}")
# More problems than this on one row are summed up in one last problem: a row with a
# million bad messages gets eleven lines, not a million.
_MAX_PROBLEMS_PER_ROW: Final = 10

_fast_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class Problem:
    """What is wrong with a line or a row: a rule name for machines and a sentence for people.

    The sentence reads "what is wrong; what to do", without the file and line, which the
    caller puts in front.
    """

    rule: str
    message: str


@dataclass(frozen=True)
class JsonlLine:
    """One line of a JSONL file: its number, its bytes, and its row or what stops reading it.

    `raw` is the line without its line end (and without a UTF-8 byte order mark on line 1);
    it is empty for a line longer than the reader's limit, which is skipped unread. `row` is
    the parsed JSON object, or None when `problem` says why there is none.
    """

    number: int
    raw: bytes
    row: dict[str, Any] | None
    problem: Problem | None

    @property
    def blank(self) -> bool:
        return self.problem is not None and self.problem.rule == "blank-line"


def read_jsonl(path: Path, *, max_line_bytes: int | None = None) -> Iterator[JsonlLine]:
    """Yield every line of the JSONL file at `path`, parsed, in constant memory.

    Blank lines, lines that are not UTF-8 or not JSON, rows that are not objects and lines
    longer than `max_line_bytes` (None: no limit) come with a `Problem` instead of a row.
    JSON that nests too deep to parse is a problem too, never a `RecursionError`.
    """
    with path.open("rb") as stream:
        number = 0
        while True:
            raw = stream.readline() if max_line_bytes is None else stream.readline(max_line_bytes)
            if not raw:
                return
            number += 1
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if max_line_bytes is not None and len(raw) >= max_line_bytes and raw[-1:] != b"\n":
                length = len(raw) + _skip_rest_of_line(stream)
                yield JsonlLine(number, b"", None, _too_long(length, max_line_bytes))
                continue
            raw = raw.rstrip(b"\r\n")
            row, problem = parse_row(raw)
            yield JsonlLine(number, raw, row, problem)


def _skip_rest_of_line(stream: Any) -> int:
    skipped = 0
    while True:
        chunk = stream.readline(_SKIP_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk[-1:] == b"\n":
            return skipped


def _too_long(length: int, limit: int) -> Problem:
    return Problem(
        "line-too-long",
        f"line is {length:,} bytes, over the limit of {limit:,}; split the sample "
        "(no model's context holds it) or raise --max-line-bytes",
    )


def parse_row(raw: bytes) -> tuple[dict[str, Any] | None, Problem | None]:
    """The JSON object on one line (without its line end), or the problem that stops it."""
    if not raw.strip():
        return None, Problem(
            "blank-line",
            "blank line; mistral-finetune fails on it (each line must hold one JSON object): "
            "delete it",
        )
    try:
        value = _fast_decode(raw)
    except (msgspec.DecodeError, RecursionError):
        # The fast decoder refuses some JSON that the standard library reads (non-finite
        # numbers, lone surrogate escapes), and its messages give no column: ask the
        # standard library, which also says where and why.
        value, problem = _slow_parse(raw)
        if problem is not None:
            return None, problem
    if not isinstance(value, dict):
        return None, Problem(
            "not-object",
            f"row is {value_kind(value)}, not an object; each line holds one JSON object",
        )
    return value, None


def _slow_parse(raw: bytes) -> tuple[Any, Problem | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = raw[error.start : error.start + 1].hex()
        return None, Problem(
            "not-utf8",
            f"not valid UTF-8 (byte 0x{bad} at byte {error.start + 1}); save the file as UTF-8",
        )
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, Problem("invalid-json", json_decode_problem(error, one_line=True))
    except RecursionError:
        return None, Problem(
            "invalid-json", "not valid JSON (nesting too deep to parse); flatten the row"
        )


def value_kind(value: object) -> str:
    """`json_kind`, telling an empty list apart (a row's messages must not be empty)."""
    return "an empty list" if value == [] else json_kind(value)


def user_texts(row: dict[str, Any]) -> list[str]:
    """The text of every user message of a row, in order; nothing for a malformed row."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        return []
    return [
        prompt_text(message.get("content", message.get("text")))
        for message in messages
        if isinstance(message, dict) and message.get("role") == "user"
    ]


def check_sample(row: dict[str, Any]) -> list[Problem]:
    """Every rule of Mistral's fine-tuning format that `row` breaks; empty when it is valid.

    The rules are those mistral-finetune applies before training (and Mistral's tokenizer
    validator in fine-tuning mode), plus a few that catch rows those accept but that train
    nothing or not what was meant: weights on messages that have none, a row whose every
    reply has weight 0, calls to functions the row does not define, empty user turns.
    """
    problems = list(_SampleChecker(row).problems())
    if len(problems) > _MAX_PROBLEMS_PER_ROW:
        more = len(problems) - _MAX_PROBLEMS_PER_ROW
        problems = problems[:_MAX_PROBLEMS_PER_ROW]
        problems.append(Problem("many-problems", f"and {more:,} more problems on this row"))
    return problems


class _SampleChecker:
    """Walks one row once, message by message, yielding what is wrong."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.defined_functions: set[str] | None = None

    def problems(self) -> Iterator[Problem]:
        row = self.row
        if "messages" not in row:
            yield Problem("messages", _no_messages(row))
            return
        yield from self._tools()
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            yield Problem(
                "messages",
                f'"messages" is {value_kind(messages)}; give a non-empty list of messages',
            )
            return
        usable = [m for m in messages if isinstance(m, dict) and m.get("role") in ROLES]
        for index, message in enumerate(messages):
            yield from self._message(message, index, last=index == len(messages) - 1)
        if len(usable) < len(messages):
            return  # order and pairing make no sense over messages that are not messages
        yield from _system_messages(row, messages)
        yield from _order(messages)
        yield from _tool_pairing(messages)
        yield from _weights(messages)

    def _tools(self) -> Iterator[Problem]:
        row = self.row
        if "tools" in row and "available_tools" in row:
            yield Problem("tools", 'row has both "tools" and "available_tools"; keep only "tools"')
        key = "tools" if "tools" in row else "available_tools"
        if key not in row or row[key] is None:
            return
        tools = row[key]
        if not isinstance(tools, list):
            yield Problem("tools", f'"{key}" is {value_kind(tools)}; give a list of tools')
            return
        self.defined_functions = set()
        for index, tool in enumerate(tools):
            label = f"{key}[{index}]"
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict):
                yield Problem(
                    "tools",
                    f'{label} has no "function" object; a tool is {{"type": "function", '
                    '"function": {"name": ..., "description": ..., "parameters": {...}}}',
                )
                continue
            if isinstance(tool, dict) and tool.get("type", "function") != "function":
                yield Problem("tools", f'{label}.type is {_shown(tool["type"])}; give "function"')
            yield from _function_definition(function, label, self.defined_functions)

    def _message(self, message: Any, index: int, *, last: bool) -> Iterator[Problem]:
        label = f"messages[{index}]"
        if not isinstance(message, dict):
            yield Problem(
                "message",
                f"{label} is {value_kind(message)}, not an object; a message is "
                '{"role": ..., "content": ...}',
            )
            return
        role = message.get("role")
        if role is None:
            yield Problem("role", f'{label} has no "role"; roles are {_ROLE_LIST}')
            return
        if role not in ROLES:
            yield Problem("role", f"{label} has role {_shown(role)}; roles are {_ROLE_LIST}")
            return
        label = f"{label} ({role})"
        if "content" in message and "text" in message:
            yield Problem("content", f'{label} has both "content" and "text"; keep only "content"')
        content = message.get("content", message.get("text"))
        tool_calls = message.get("tool_calls")
        if role == "assistant":
            yield from self._assistant(message, content, tool_calls, label, last=last)
        else:
            if tool_calls is not None:
                yield Problem(
                    "tool-calls", f'{label} has "tool_calls"; only assistant messages call tools'
                )
            yield from _content(content, label)
            if "weight" in message:
                yield Problem(
                    "weight",
                    f'{label} has a "weight", which is ignored; only assistant messages '
                    "have one: remove it",
                )
        if role == "tool":
            yield from _tool_message(message, label)

    def _assistant(
        self, message: dict[str, Any], content: Any, tool_calls: Any, label: str, *, last: bool
    ) -> Iterator[Problem]:
        has_text = bool(prompt_text(content).strip()) if content is not None else False
        if tool_calls is not None:
            if not isinstance(tool_calls, list) or not tool_calls:
                yield Problem(
                    "tool-calls",
                    f"{label}.tool_calls is {value_kind(tool_calls)}; give a list of calls "
                    '(or leave "tool_calls" out)',
                )
            else:
                for index, call in enumerate(tool_calls):
                    yield from self._tool_call(call, f"{label}.tool_calls[{index}]", last=last)
            if has_text:
                yield Problem(
                    "content",
                    f"{label} has both content and tool_calls; Mistral's validator takes "
                    "one or the other: put the text in an assistant message of its own",
                )
        elif content is None:
            yield Problem("content", f'{label} has no "content"; give the reply text')
        elif not isinstance(content, (str, list)):
            yield Problem(
                "content", f"{label}.content is {value_kind(content)}; give the reply as a string"
            )
        elif not has_text:
            yield Problem(
                "empty-content",
                f"{label} has empty content; give the reply the model should learn, "
                "or remove the message",
            )
        if "weight" in message:
            weight = message["weight"]
            if isinstance(weight, bool) or weight not in (0, 1):
                yield Problem(
                    "weight",
                    f"{label}.weight is {_shown(weight)}; give 0 (do not learn this reply) "
                    "or 1 (learn it)",
                )

    def _tool_call(self, call: Any, label: str, *, last: bool) -> Iterator[Problem]:
        if not isinstance(call, dict):
            yield Problem(
                "tool-calls",
                f"{label} is {value_kind(call)}, not an object; a call is "
                '{"id": ..., "type": "function", "function": {"name": ..., "arguments": "..."}}',
            )
            return
        call_id = call.get("id")
        if call_id is None:
            yield Problem("tool-call-id", f'{label} has no "id"; give a 9-character id')
        elif call_id == "null":
            if not last:
                yield Problem(
                    "tool-call-id",
                    f'{label}.id is "null", allowed only in the last message; give a '
                    "9-character id that its tool message repeats",
                )
        elif not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
            yield Problem("tool-call-id", f"{label}.id is {_shown(call_id)}; {_ID_RULE}")
        function = call.get("function")
        if not isinstance(function, dict):
            yield Problem(
                "tool-calls",
                f'{label} has no "function" object; give {{"name": ..., "arguments": "..."}}',
            )
            return
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            yield Problem("tool-calls", f"{label}.function.name is {_shown(name)}; {_NAME_RULE}")
        elif self.defined_functions is None:
            yield Problem(
                "tools",
                f'{label} calls "{name}", but the row defines no tools; list the functions '
                'the model may call in the row\'s "tools"',
            )
        elif name not in self.defined_functions:
            yield Problem(
                "tools",
                f'{label} calls "{name}", which the row\'s "tools" does not define; '
                "define it or fix the name",
            )
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            yield Problem(
                "tool-calls",
                f"{label}.function.arguments is {value_kind(arguments)}; give the arguments "
                'as a JSON string, e.g. "{\\"id\\": 7}"',
            )


_ID_RULE: Final = 'an id is 9 letters or digits, e.g. "a1b2c3d4e" (Mistral\'s tokenizer)'
_NAME_RULE: Final = "a name is 1 to 64 letters, digits, underscores or dashes"


def _no_messages(row: dict[str, Any]) -> str:
    if "interactions" in row:
        return 'row has "interactions", not "messages"; rename the key to "messages"'
    if "text" in row or "content" in row:
        return (
            'row has no "messages" (a pretraining row?); a chat fine-tuning row is '
            '{"messages": [...]}'
        )
    return 'row has no "messages"; a fine-tuning row is {"messages": [...]}'


def _function_definition(
    function: dict[str, Any], label: str, defined: set[str]
) -> Iterator[Problem]:
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        yield Problem("tools", f"{label}.function.name is {_shown(name)}; {_NAME_RULE}")
    else:
        defined.add(name)
    if "description" not in function:
        yield Problem("tools", f'{label}.function has no "description"; say what the function does')
    parameters = function.get("parameters")
    if not isinstance(parameters, dict):
        yield Problem(
            "tools",
            f"{label}.function.parameters is {value_kind(parameters)}; give a JSON Schema "
            "object ({} for a function without parameters)",
        )
        return
    error = _schema_error(parameters)
    if error:
        yield Problem(
            "tools", f"{label}.function.parameters is not a valid JSON Schema ({error}); fix it"
        )


def _schema_error(schema: dict[str, Any]) -> str:
    try:
        key = json.dumps(schema, sort_keys=True)
    except (RecursionError, ValueError):
        return "nested too deep"
    # Rows of one file share their tools, so each distinct schema is checked once; a huge
    # one is not kept.
    return _cached_schema_error(key) if len(key) <= _CACHED_SCHEMA else _schema_text_error(key)


_CACHED_SCHEMA: Final = 64 * 1024


def _schema_text_error(key: str) -> str:
    # Imported here: jsonschema takes a while to import, and only rows with tools need it.
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft7Validator.check_schema(json.loads(key))
    except SchemaError as error:
        return _short(error.message)
    except RecursionError:
        return "nested too deep"
    return ""


_cached_schema_error = functools.lru_cache(maxsize=256)(_schema_text_error)


def _content(content: Any, label: str) -> Iterator[Problem]:
    if content is None:
        yield Problem("content", f'{label} has no "content"; give the message text')
        return
    if isinstance(content, list):
        for index, chunk in enumerate(content):
            if not isinstance(chunk, dict) or not isinstance(chunk.get("type"), str):
                yield Problem(
                    "content",
                    f"{label}.content[{index}] is not a chunk; a chunk is "
                    '{"type": "text", "text": ...}',
                )
            elif chunk["type"] == "text" and not isinstance(chunk.get("text"), str):
                yield Problem(
                    "content", f'{label}.content[{index}] is a text chunk without a "text" string'
                )
        if content and all(isinstance(c, dict) and c.get("type") != "text" for c in content):
            return  # an image without words is content
    elif not isinstance(content, str):
        yield Problem(
            "content",
            f"{label}.content is {value_kind(content)}; give a string or a list of chunks",
        )
        return
    if not prompt_text(content).strip():
        yield Problem(
            "empty-content", f"{label} has empty content; give the text or remove the message"
        )


def _tool_message(message: dict[str, Any], label: str) -> Iterator[Problem]:
    call_id = message.get("tool_call_id")
    if call_id is None:
        yield Problem(
            "tool-call-id",
            f'{label} has no "tool_call_id"; give the id of the call it answers',
        )
    elif not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
        yield Problem("tool-call-id", f"{label}.tool_call_id is {_shown(call_id)}; {_ID_RULE}")
    name = message.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
        yield Problem("tool-calls", f"{label}.name is {_shown(name)}; {_NAME_RULE}")


def _system_messages(row: dict[str, Any], messages: list[dict[str, Any]]) -> Iterator[Problem]:
    systems = [index for index, message in enumerate(messages) if message["role"] == "system"]
    if len(systems) > 1:
        yield Problem(
            "role-order",
            f"messages[{systems[1]}] is a second system message (the first is "
            f"messages[{systems[0]}]); mistral-finetune allows one: merge them",
        )
    if systems and row.get("system_prompt") is not None:
        yield Problem(
            "role-order",
            'row has both "system_prompt" and a system message; keep only the message',
        )


# Which role may follow which, system messages aside (mistral-finetune takes them out of the
# conversation before checking the order, as Mistral's validator does).
_NEXT_ROLES: Final = {
    "user": ("user", "assistant"),
    "assistant": ("assistant", "user", "tool"),
    "tool": ("tool", "assistant"),
}


def _order(messages: list[dict[str, Any]]) -> Iterator[Problem]:
    turns = [(index, m["role"]) for index, m in enumerate(messages) if m["role"] != "system"]
    if not any(role == "user" for _, role in turns):
        yield Problem(
            "role-order", 'no "user" message; a sample needs the user\'s request to learn from'
        )
    previous: str | None = None
    for index, role in turns:
        if previous is not None and role not in _NEXT_ROLES[previous]:
            yield Problem(
                "role-order",
                f'messages[{index}] ({role}) follows a "{previous}" message; after '
                f"{previous} come only {' or '.join(_NEXT_ROLES[previous])}",
            )
        elif previous is None and role == "tool":
            yield Problem(
                "role-order",
                f"messages[{index}] (tool) opens the conversation; a tool message answers "
                "an assistant's tool call",
            )
        previous = role
    last = messages[-1]["role"]
    if last != "assistant":
        yield Problem(
            "last-message",
            f'the last message is "{last}"; a fine-tuning sample ends with the assistant '
            "message the model learns",
        )


def _tool_pairing(messages: list[dict[str, Any]]) -> Iterator[Problem]:
    """Every tool call answered by one tool message with its id before the conversation goes on."""
    open_calls: dict[str, int] = {}  # call id -> index of the assistant message that made it
    answered: set[str] = set()
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                continue  # reported with the message itself
            if call_id in answered:
                yield Problem(
                    "tool-call-id",
                    f'messages[{index}] (tool) answers call "{call_id}" a second time; '
                    "give each call one tool message",
                )
            elif call_id not in open_calls:
                yield Problem(
                    "tool-call-id",
                    f'messages[{index}] (tool) answers call "{call_id}", which no assistant '
                    "message just before it made; use the id of the call it answers",
                )
            else:
                answered.add(call_id)
            continue
        if role == "system":
            continue
        yield from _unanswered(open_calls, answered, index)
        open_calls, answered = {}, set()
        calls = message.get("tool_calls") if role == "assistant" else None
        if isinstance(calls, list):
            for call in calls:
                call_id = call.get("id") if isinstance(call, dict) else None
                if isinstance(call_id, str) and call_id != "null":
                    if call_id in open_calls:
                        yield Problem(
                            "tool-call-id",
                            f'messages[{index}] (assistant) makes two calls with id "{call_id}"; '
                            "give each call its own id",
                        )
                    open_calls[call_id] = index


def _unanswered(open_calls: dict[str, int], answered: set[str], before: int) -> Iterator[Problem]:
    for call_id, made_in in open_calls.items():
        if call_id not in answered:
            yield Problem(
                "tool-call-id",
                f'messages[{made_in}] (assistant) calls "{call_id}", but no tool message '
                f"answers it before messages[{before}]; add "
                f'{{"role": "tool", "tool_call_id": "{call_id}", "content": ...}}',
            )


def _weights(messages: list[dict[str, Any]]) -> Iterator[Problem]:
    replies = [message for message in messages if message["role"] == "assistant"]
    if replies and all(message.get("weight", 1) == 0 for message in replies):
        yield Problem(
            "weight",
            'every assistant message has "weight": 0, so the row trains nothing; set '
            '"weight": 1 on the reply to learn',
        )


def _shown(value: Any) -> str:
    """A short rendering of a value a message quotes: a string in quotes, else its kind."""
    if isinstance(value, str):
        return json.dumps(_short(value), ensure_ascii=False)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return value_kind(value)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
