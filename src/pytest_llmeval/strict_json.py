"""Strict JSON checking of model outputs: `parse_json`, its failure taxonomy, schema checks."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import accumulate
from typing import Any, Final

import msgspec.json
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from referencing.exceptions import Unresolvable

from pytest_llmeval.categories import (
    CATEGORIES,
    EMPTY_OUTPUT,
    ENUM_VIOLATION,
    FENCED_JSON,
    FORMAT_VIOLATION,
    LEADING_TEXT,
    LENGTH_VIOLATION,
    MALFORMED_JSON,
    MISSING_FIELD,
    MULTIPLE_JSON,
    NO_JSON_START,
    RANGE_VIOLATION,
    SCHEMA_VIOLATION,
    TRAILING_TEXT,
    TYPE_MISMATCH,
    UNEXPECTED_FIELD,
    UNTERMINATED_JSON,
    VALID,
)
from pytest_llmeval.errors import InvalidSchemaError

__all__ = [
    "CATEGORIES",
    "EMPTY_OUTPUT",
    "ENUM_VIOLATION",
    "FENCED_JSON",
    "FORMAT_VIOLATION",
    "LEADING_TEXT",
    "LENGTH_VIOLATION",
    "MALFORMED_JSON",
    "MAX_DEPTH",
    "MISSING_FIELD",
    "MULTIPLE_JSON",
    "NO_JSON_START",
    "RANGE_VIOLATION",
    "SCHEMA_VIOLATION",
    "TRAILING_TEXT",
    "TYPE_MISMATCH",
    "UNEXPECTED_FIELD",
    "UNTERMINATED_JSON",
    "VALID",
    "CompiledSchema",
    "ParsedJson",
    "compile_schema",
    "failure_message",
    "parse_json",
]

#: Containers nested deeper than this are `malformed_json` ("too deep"), even when the text
#: is also cut off. A fixed limit keeps the verdict independent of the caller's stack depth
#: (the C decoder's own limit is not): far deeper than any real output, yet well inside
#: what the decoder parses from an ordinary call stack.
MAX_DEPTH: Final = 512

# How many characters of the reply a detail quotes: enough to recognise, never megabytes.
_SNIPPET: Final = 20
_MESSAGE_LIMIT: Final = 200
_LINE_LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class ParsedJson:
    """The verdict on one model output: its category, the parsed value and why.

    `value` is the parsed JSON value whenever one was parsed (also for wrap and schema
    categories), else None. `position` is the offset in the text where the problem starts,
    None for `valid`, `empty_output` and `no_json_start`.
    """

    category: str
    value: Any = None
    detail: str = ""
    position: int | None = None

    @property
    def ok(self) -> bool:
        """True only for `valid`; derived so it can never disagree with `category`."""
        return self.category == VALID


# A frozen dataclass's __init__ sets each field through object.__setattr__; setting the
# slots directly costs half as much, and a result is built for every output checked.
_new_object: Final = object.__new__
_set_category, _set_value, _set_detail, _set_position = (
    ParsedJson.__dict__[name].__set__ for name in ("category", "value", "detail", "position")
)


def _result(category: str, value: Any, detail: str, position: int | None) -> ParsedJson:
    parsed: ParsedJson = _new_object(ParsedJson)
    _set_category(parsed, category)
    _set_value(parsed, value)
    _set_detail(parsed, detail)
    _set_position(parsed, position)
    return parsed


# --------------------------------------------------------------------------------------------
# Syntax: the C decoder on the fast path, a small iterative scanner when it cannot tell.

_OK: Final = 0
_PREFIX: Final = 1
_ERROR: Final = 2


class _Syntax:
    """What one JSON value starting at an offset turned out to be."""

    __slots__ = ("detail", "end", "status", "value")

    def __init__(self, status: int, end: int, value: Any = None, detail: str = "") -> None:
        self.status = status
        self.end = end  # _OK: offset just after the value; _ERROR: offset of the problem
        self.value = value
        self.detail = detail


class _NonFinite(Exception):
    """Raised from the decoder hooks: NaN, Infinity or a float that overflows."""


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _parse_float(token: str) -> float:
    number = float(token)
    if number - number != 0.0:  # inf - inf is nan: 1e400 overflowed
        raise _NonFinite(token)
    return number


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)
# The C scanner itself, without raw_decode's extra Python frame.
_scan_once: Final[Callable[[str, int], tuple[Any, int]]] = _DECODER.scan_once  # type: ignore[attr-defined]

_WS: Final = re.compile(r"[ \t\n\r]*")
_STRING_BODY: Final = re.compile(
    r'[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'
)
_PARTIAL_ESCAPE: Final = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?\Z")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_PREFIX_SRC: Final = (
    r"-?(?:(?:0|[1-9][0-9]*)(?:\.(?:[0-9]+(?:[eE][+-]?[0-9]*)?)?|[eE][+-]?[0-9]*)?)?\Z"
)
_NUMBER_PREFIX: Final = re.compile(_NUMBER_PREFIX_SRC)
_WORD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Strings (a last one may be cut off) and brackets of text the decoder already validated.
_STRING_SRC: Final = r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)'
_STRING_OR_OTHER: Final = re.compile(_STRING_SRC + r'|[^\[\]{}"]+', re.DOTALL)
_STRING_OR_BRACKET: Final = re.compile(_STRING_SRC + r"|[\[\]{}]", re.DOTALL)
_BRACKET_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}
_LITERALS: Final = ("true", "false", "null")

# A `{` or `[` after other text begins a JSON value only when its first token does not fail
# (DESIGN.md). This one regex finds the next such bracket at C speed, so prose with many
# brackets (`[note]`, `{name}`) never runs Python code per bracket. A token cut off by the
# end of the text does not fail: it may be the start of a truncated value. A number run into
# letters (`[1st]`, the `[31m` of a terminal colour code) is one failed word, not a number.
_STRING_TOKEN: Final = (
    r'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'
    r'(?:"|\\(?:u[0-9a-fA-F]{0,3})?\Z|\Z)'
)
_JSON_START: Final = re.compile(
    r"\{[ \t\n\r]*(?:\}|" + _STRING_TOKEN + r"|\Z)"
    r"|\[[ \t\n\r]*(?:[\]\[{]|" + _STRING_TOKEN + r"|"
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![-+.\w])|"
    + _NUMBER_PREFIX_SRC
    + r"|(?:true|false|null)(?![A-Za-z0-9_])"
    r"|(?:t(?:ru?)?|f(?:a(?:ls?)?)?|n(?:ul?)?)\Z)"
)
_FENCE_AT: Final = re.compile(r"(`{3,}|~{3,})[ \t]*[\w+.#-]*\s*")
_FENCE_CLOSE: Final = re.compile(r"\s*(`{3,}|~{3,})")

# What the parser expected where it failed; picks the wording of a malformed_json detail.
_EXPECT_VALUE: Final = "a value"
_EXPECT_KEY: Final = "a property name in double quotes"
_EXPECT_COMMA: Final = "',' or a closing bracket"
_EXPECT_COLON: Final = "':' after the property name"


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """End of `pattern` (which can match empty) at `pos`."""
    match = pattern.match(text, pos)
    return pos if match is None else match.end()


def _int_digit_limit() -> int:
    getter = getattr(sys, "get_int_max_str_digits", None)
    return int(getter()) if getter is not None else 0


def _analyze(text: str, start: int, stop: int | None = None) -> _Syntax:
    """Decide what the JSON value starting at `text[start]` (a `{` or `[`) is.

    `stop` is where the caller expects the value to end (a closing code fence): a guess
    that only chooses the fast path; the verdict is the same with or without it.
    """
    piece = text if start == 0 and stop is None else text[start:stop]
    try:
        value = _fast_decode(piece)
    except Exception as error:
        return _after_fast_failure(text, start, error if stop is None else None)
    # The piece is the value with only JSON white space after it.
    return _complete(text, start, start + len(piece.rstrip(_JSON_WS)), value)


# The fast path: msgspec's decoder parses a whole text about 2.5 times faster than the
# standard library's. It accepts a subset of what the standard library accepts (it refuses
# lone surrogate escapes, non-finite numbers and deep nesting) and gives the same value for
# it, big integers included; whatever it refuses goes to the standard library's decoder,
# whose errors say where and why. Its one error taken as a verdict is "truncated", and only
# where it cannot be wrong (see `_may_misreport_cut`).
_fast_decode: Final[Callable[[str], Any]] = msgspec.json.Decoder().decode
_TRUNCATED: Final = "Input data was truncated"
_JSON_WS: Final = " \t\n\r"


def _after_fast_failure(text: str, start: int, error: Exception | None) -> _Syntax:
    """The verdict once msgspec refused text[start:] with `error` (None: a slice of it)."""
    n = len(text)
    if error is not None and str(error) == _TRUNCATED and not _may_misreport_cut(text):
        return _checked_depth(text, start, n, _Syntax(_PREFIX, n))
    try:
        value, end = _scan_once(text, start)
    except Exception as scan_error:
        return _from_exception(text, start, scan_error)
    return _complete(text, start, end, value)


def _complete(text: str, start: int, end: int, value: Any) -> _Syntax:
    outcome = _Syntax(_OK, end, value)
    # A complete value nesting d deep spans at least 2d characters.
    return outcome if end - start <= 2 * MAX_DEPTH else _checked_depth(text, start, end, outcome)


def _may_misreport_cut(text: str) -> bool:
    """True where msgspec may call a text truncated that is not a JSON prefix.

    It says "truncated" when fewer characters remain than a literal (`true`, `false`,
    `null`) needs, before comparing them (`[tx`), and when a high surrogate escape is not
    followed by six more characters (`["\\ud800x"]`). Both sit within the last few
    characters, so only those are looked at.
    """
    n = len(text)
    if "\\u" in text[-16:]:
        return True
    tail = text[-5:]
    if "t" not in tail and "n" not in tail and "f" not in tail:
        return False
    for pos in range(max(0, n - 5), n):
        char = text[pos]
        if ((char == "t" or char == "n") and n - pos < 4) or (char == "f" and n - pos < 5):
            # A literal can only stand where a value can: after `[`, `,` or `:`.
            before = text[max(0, pos - 64) : pos].rstrip(_JSON_WS)
            if not before or before[-1] in "[,:":
                return True
    return False


def _from_exception(text: str, start: int, error: Exception) -> _Syntax:
    if isinstance(error, StopIteration):
        # The C scanner's "no value here", raised from inside a container; raw_decode
        # would turn it into "Expecting value".
        outcome = _from_decoder_error(text, start, "Expecting value", int(error.value))
    elif isinstance(error, json.JSONDecodeError):
        outcome = _from_decoder_error(text, start, error.msg, error.pos)
    elif isinstance(error, RecursionError):
        # Deeper than the decoder's own limit, which is above MAX_DEPTH: everything before
        # the deep point is valid, so the depth walk finds it without the slow scanner.
        return _checked_depth(text, start, len(text), _Syntax(_PREFIX, len(text)), _fallback)
    else:
        # Non-finite numbers and integers beyond Python's conversion limit come without a
        # position: the scanner finds it.
        return _fallback(text, start)
    # A cut-off or malformed value may nest too deep before its other problem.
    return _checked_depth(text, start, outcome.end, outcome)


def _checked_depth(
    text: str,
    start: int,
    stop: int,
    outcome: _Syntax,
    otherwise: Callable[[str, int], _Syntax] | None = None,
) -> _Syntax:
    """`outcome` (or `otherwise(...)`), unless valid JSON text[start:stop] nests too deep."""
    # Cheap bounds first: depth d needs d characters and d brackets; only values with that
    # many brackets, rare among model outputs, pay for the exact walk.
    if stop - start > MAX_DEPTH and (
        text.count("{", start, stop) + text.count("[", start, stop) > MAX_DEPTH
    ):
        brackets = _STRING_OR_OTHER.sub("", text[start:stop])
        steps = map(_BRACKET_STEP.__getitem__, brackets)
        if max(accumulate(steps), default=0) > MAX_DEPTH:
            depth = 0
            for match in _STRING_OR_BRACKET.finditer(text, start, stop):
                token = match.group()
                if token == "{" or token == "[":
                    depth += 1
                    if depth > MAX_DEPTH:
                        return _too_deep(match.start())
                elif token == "}" or token == "]":
                    depth -= 1
    return outcome if otherwise is None else otherwise(text, start)


_FITS: Final = _Syntax(_OK, 0)  # a marker: the depth check found nothing


def _too_deep(pos: int) -> _Syntax:
    return _Syntax(
        _ERROR, pos, detail=f"nesting too deep: more than {MAX_DEPTH} levels at offset {pos}"
    )


def _from_decoder_error(text: str, start: int, message: str, pos: int) -> _Syntax:
    """Classify a C decoder error without rescanning: everything before `pos` is valid."""
    n = len(text)
    # Errors inside a string first: their `pos` is not between tokens.
    if message.startswith("Invalid control character"):
        return _control_character(text, pos)
    if "escape" in message:
        backslash = text.rfind("\\", start, pos + 1)
        if backslash < 0:
            return _fallback(text, start)
        body_end = _match_end(_STRING_BODY, text, backslash)
        if body_end >= n or _PARTIAL_ESCAPE.match(text, body_end):
            return _Syntax(_PREFIX, n)
        return _invalid_escape(text, body_end)
    if message.startswith("Unterminated string"):
        body_end = _match_end(_STRING_BODY, text, pos + 1)
        if body_end >= n or _PARTIAL_ESCAPE.match(text, body_end):
            return _Syntax(_PREFIX, n)
        return _fallback(text, start)
    if _match_end(_WS, text, pos) >= n:
        return _Syntax(_PREFIX, n)
    if message == "Expecting value":
        tail = text[pos:]
        if tail == "-" or (len(tail) < 5 and any(word.startswith(tail) for word in _LITERALS)):
            return _Syntax(_PREFIX, n)
        return _malformed(text, pos, _EXPECT_VALUE)
    if message.startswith("Expecting property name"):
        return _malformed(text, pos, _EXPECT_KEY)
    if message.startswith("Expecting ','"):
        if _number_continues(text, start, pos):
            return _Syntax(_PREFIX, n)
        return _malformed(text, pos, _EXPECT_COMMA)
    if message.startswith("Expecting ':'"):
        return _malformed(text, pos, _EXPECT_COLON)
    # A message this code does not know (a newer Python): let the scanner decide.
    return _fallback(text, start)


def _fallback(text: str, start: int) -> _Syntax:
    outcome = _scan(text, start)
    if outcome.status == _OK:
        # The scanner accepts only what the C decoder refused for lack of stack: the
        # caller's own stack was already deep. Still an answer, never an exception.
        return _Syntax(
            _ERROR,
            start,
            detail=f"nesting too deep: the decoder ran out of stack at offset {start}",
        )
    return outcome


def _number_continues(text: str, start: int, pos: int) -> bool:
    """True when the text ends inside a number the decoder stopped short of, as in `[1.`."""
    tail = text[pos:]
    if len(tail) > 2 or tail[0] not in ".eE" or not text[pos - 1].isdigit():
        return False
    token_start = pos
    while token_start > start and text[token_start - 1] in "0123456789.eE+-":
        token_start -= 1
    return _NUMBER_PREFIX.match(text[token_start:]) is not None


def _scan(text: str, start: int) -> _Syntax:
    """Iterative, linear JSON syntax check from `text[start]`: value end, prefix or error.

    The fallback for what the C decoder cannot report: it never recurses, stops at
    MAX_DEPTH, and rejects NaN, Infinity, overflowing floats and over-long integers.
    """
    n = len(text)
    stack: list[str] = []
    value_states = (_S_VALUE, _S_VALUE_OR_CLOSE)
    state = _S_VALUE
    i = start
    while True:
        i = _match_end(_WS, text, i)
        if i >= n:
            return _Syntax(_PREFIX, n)
        ch = text[i]
        if state == _S_AFTER_VALUE:
            if ch == ",":
                state = _S_KEY if stack[-1] == "{" else _S_VALUE
                i += 1
            elif ch == ("}" if stack[-1] == "{" else "]"):
                stack.pop()
                i += 1
                if not stack:
                    return _Syntax(_OK, i)
            else:
                return _malformed(text, i, _EXPECT_COMMA)
        elif state == _S_COLON:
            if ch != ":":
                return _malformed(text, i, _EXPECT_COLON)
            state = _S_VALUE
            i += 1
        elif state in (_S_KEY, _S_KEY_OR_CLOSE):
            if ch == '"':
                outcome = _scan_string(text, i)
                if outcome.status != _OK:
                    return outcome
                i = outcome.end
                state = _S_COLON
            elif ch == "}" and state == _S_KEY_OR_CLOSE:
                stack.pop()
                i += 1
                state = _S_AFTER_VALUE
                if not stack:
                    return _Syntax(_OK, i)
            else:
                return _malformed(text, i, _EXPECT_KEY)
        elif state in value_states:
            if ch == "]" and state == _S_VALUE_OR_CLOSE:
                stack.pop()
                i += 1
                state = _S_AFTER_VALUE
                if not stack:
                    return _Syntax(_OK, i)
            elif ch in "{[":
                if len(stack) >= MAX_DEPTH:
                    return _too_deep(i)
                stack.append(ch)
                i += 1
                state = _S_KEY_OR_CLOSE if ch == "{" else _S_VALUE_OR_CLOSE
            elif ch == '"':
                outcome = _scan_string(text, i)
                if outcome.status != _OK:
                    return outcome
                i = outcome.end
                state = _S_AFTER_VALUE
            elif ch == "-" or "0" <= ch <= "9":
                outcome = _scan_number(text, i)
                if outcome.status != _OK:
                    return outcome
                i = outcome.end
                state = _S_AFTER_VALUE
            else:
                for word in _LITERALS:
                    if text.startswith(word, i):
                        i += len(word)
                        state = _S_AFTER_VALUE
                        break
                else:
                    if n - i < 5 and any(word.startswith(text[i:]) for word in _LITERALS):
                        return _Syntax(_PREFIX, n)
                    return _malformed(text, i, _EXPECT_VALUE)


_S_VALUE: Final = 0  # a value must follow (after ':' or ',' in an array)
_S_VALUE_OR_CLOSE: Final = 1  # just after '['
_S_KEY: Final = 2  # after ',' in an object
_S_KEY_OR_CLOSE: Final = 3  # just after '{'
_S_COLON: Final = 4
_S_AFTER_VALUE: Final = 5  # ',' or the closing bracket


def _scan_string(text: str, i: int) -> _Syntax:
    n = len(text)
    j = _match_end(_STRING_BODY, text, i + 1)
    if j < n and text[j] == '"':
        return _Syntax(_OK, j + 1)
    if j >= n or _PARTIAL_ESCAPE.match(text, j):
        return _Syntax(_PREFIX, n)
    if text[j] == "\\":
        return _invalid_escape(text, j)
    return _control_character(text, j)


def _scan_number(text: str, i: int) -> _Syntax:
    n = len(text)
    match = _NUMBER.match(text, i)
    if match is None:
        if _NUMBER_PREFIX.match(text, i):  # "-" at the very end
            return _Syntax(_PREFIX, n)
        return _malformed(text, i, _EXPECT_VALUE)
    if match.end() < n and text[match.end()] in ".eE" and _NUMBER_PREFIX.match(text, i):
        return _Syntax(_PREFIX, n)  # "1." or "1e+" at the very end
    token = match.group()
    if any(mark in token for mark in ".eE"):
        if float(token) - float(token) != 0.0:
            return _Syntax(
                _ERROR,
                i,
                detail=(
                    f"non-finite number: {_snippet(token)} at offset {i} overflows to infinity"
                ),
            )
    else:
        limit = _int_digit_limit()
        digits = len(token) - token.startswith("-")
        if limit and digits > limit:
            return _Syntax(
                _ERROR,
                i,
                detail=(
                    f"integer too long: {digits} digits at offset {i} (Python converts "
                    f"at most {limit})"
                ),
            )
    return _Syntax(_OK, match.end())


def _invalid_escape(text: str, pos: int) -> _Syntax:
    return _Syntax(
        _ERROR,
        pos,
        detail=f"invalid escape {_snippet(text[pos : pos + 6])} in a string at offset {pos}",
    )


def _control_character(text: str, pos: int) -> _Syntax:
    return _Syntax(
        _ERROR,
        pos,
        detail=(
            f"raw control character {text[pos]!r} inside a string at offset {pos} "
            f"(JSON needs it escaped) {_near(text, pos)}"
        ),
    )


def _malformed(text: str, pos: int, expected: str) -> _Syntax:
    """Name what is wrong at `pos`, where the parser expected `expected`."""
    ch = text[pos]
    where = f"at offset {pos} {_near(text, pos)}"
    if ch in "]}":
        before = text[:pos].rstrip()
        if before.endswith(","):
            comma = len(before) - 1
            return _Syntax(
                _ERROR, comma, detail=f"trailing comma at offset {comma} {_near(text, comma)}"
            )
    if ch == "'":
        return _Syntax(_ERROR, pos, detail=f"single quotes {where}: JSON needs double quotes")
    if (ch == "/" and text.startswith(("//", "/*"), pos)) or ch == "#":
        return _Syntax(_ERROR, pos, detail=f"comment {where}: JSON has no comments")
    sign = 1 if ch in "+-" else 0
    word_match = _WORD.match(text, pos + sign)
    if word_match is not None:
        word = word_match.group()
        if not sign and word in ("True", "False", "None"):
            return _Syntax(
                _ERROR,
                pos,
                detail=f"Python literal {word} {where}: JSON uses true, false and null",
            )
        if word.lower() in ("nan", "infinity", "inf"):
            shown = text[pos : word_match.end()]
            return _Syntax(
                _ERROR,
                pos,
                detail=f"non-finite number {shown} {where}: JSON has no NaN or Infinity",
            )
        if expected == _EXPECT_KEY and not sign:
            return _Syntax(
                _ERROR,
                pos,
                detail=f"unquoted property name {word!r} {where}: JSON needs double quotes",
            )
    if expected == _EXPECT_COMMA and (ch in '"{[-' or ch.isdigit()):
        return _Syntax(_ERROR, pos, detail=f"missing ',' between values {where}")
    return _Syntax(
        _ERROR,
        pos,
        detail=f"syntax error {where}: expected {expected}, found {ch!r}",
    )


# --------------------------------------------------------------------------------------------
# Small text helpers: every quote of the reply is bounded and repr-escaped.


def _snippet(text: str, limit: int = _SNIPPET, *, from_end: bool = False) -> str:
    """`repr` of at most `limit` characters of `text`, with … where it was cut."""
    if len(text) <= limit:
        return repr(text)
    if from_end:
        quoted = repr(text[-limit:])
        return quoted[0] + "…" + quoted[1:]
    quoted = repr(text[:limit])
    return quoted[:-1] + "…" + quoted[-1]


def _characters(count: int) -> str:
    return "1 character" if count == 1 else f"{count} characters"


def _near(text: str, pos: int) -> str:
    begin = max(0, pos - _SNIPPET)
    end = min(len(text), pos + 6)
    quoted = repr(text[begin:end])
    if begin > 0:
        quoted = quoted[0] + "…" + quoted[1:]
    if end < len(text):
        quoted = quoted[:-1] + "…" + quoted[-1]
    return f"near {quoted}"


def _shorten(message: str, limit: int = _MESSAGE_LIMIT) -> str:
    if not message.isprintable():
        message = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _finish_note(finish_reason: str | None, category: str) -> str:
    """What the reply's finish_reason says about the failure, or "" when unknown."""
    if finish_reason is None or category == VALID:
        return ""
    shown = _shorten(str(finish_reason), 40)
    if finish_reason == "length":
        return f"finish_reason={shown}: max_tokens was hit"
    if finish_reason == "model_length":
        return f"finish_reason={shown}: the model's context length was hit"
    if finish_reason == "stop" and category == UNTERMINATED_JSON:
        return f"finish_reason={shown}: the model ended the reply before closing the value"
    return f"finish_reason={shown}"


def _with_note(detail: str, note: str) -> str:
    if not note:
        return detail
    return f"{detail} ({note})" if detail else f"({note})"


# --------------------------------------------------------------------------------------------
# Schemas


def _is_strict_integer(checker: Any, instance: object) -> bool:
    # Strict mode: `2.0` is written as a float and a downstream parser gets a float.
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _strict_class(base: type[Validator]) -> type[Validator]:
    # One extended class per draft (a handful exist), made once.
    strict: type[Validator] = extend(  # type: ignore[no-untyped-call]
        base, type_checker=base.TYPE_CHECKER.redefine("integer", _is_strict_integer)
    )
    return strict


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
            path.append(f"[{_snippet(str(part), 40)}]")
    return "".join(path)


# A fast validity pre-check for the keywords real output schemas use. jsonschema builds
# a validator object per subschema it descends into, which costs ~300 µs for a 50-node
# schema; this compiles the schema once into plain closures. It is conservative: True only
# when jsonschema would accept the value too, False whenever unsure, and False just sends
# the value to jsonschema, which stays the authority for every verdict and message.
_Check = Callable[[Any], bool]


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _type_check(names: object, strict: bool) -> _Check | None:
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


def _enum_check(members: object) -> _Check | None:
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


def _compile_fast(
    schema: object, strict: bool, format_checker: Any, known: Mapping[str, Any]
) -> _Check | None:
    """A predicate equivalent to (or stricter than) jsonschema's, or None if unsupported."""
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        return None
    if any(keyword in known and keyword not in _FAST_KEYWORDS for keyword in schema):
        return None
    general: list[_Check] = []
    numeric: list[_Check] = []
    textual: list[_Check] = []
    listed: list[_Check] = []
    objects: list[_Check] = []

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
            search = re.compile(schema["pattern"]).search
        except (re.error, TypeError):
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
        item_check = _compile_fast(schema["items"], strict, format_checker, known)
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
        members_check = _properties_check(schema, strict, format_checker, known)
        if members_check is None:
            return None
        objects.append(members_check)

    return _node_check(general, numeric, textual, listed, objects)


def _numeric_bound(compare: Callable[[Any, Any], bool]) -> Callable[[Any], _Check]:
    return lambda limit: lambda value: compare(value, limit)


_NUMERIC: Final[dict[str, Callable[[Any], _Check]]] = {
    "minimum": _numeric_bound(lambda value, limit: value >= limit),
    "maximum": _numeric_bound(lambda value, limit: value <= limit),
    "exclusiveMinimum": _numeric_bound(lambda value, limit: value > limit),
    "exclusiveMaximum": _numeric_bound(lambda value, limit: value < limit),
}
_FAST_KEYWORDS: Final = frozenset(
    {
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
    schema: dict[str, Any], strict: bool, format_checker: Any, known: Mapping[str, Any]
) -> _Check | None:
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return None
    checks: dict[str, _Check] = {}
    for name, subschema in properties.items():
        check = _compile_fast(subschema, strict, format_checker, known)
        if check is None:
            return None
        checks[name] = check
    extra = schema.get("additionalProperties", True)
    extra_check = _compile_fast(extra, strict, format_checker, known)
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
    general: list[_Check],
    numeric: list[_Check],
    textual: list[_Check],
    listed: list[_Check],
    objects: list[_Check],
) -> _Check:
    by_type: dict[type, tuple[_Check, ...]] = {
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
        self._fast: dict[bool, _Check | None] = {}

    def __repr__(self) -> str:
        return f"CompiledSchema({_shorten(repr(self.schema), 80)})"

    def validator(self, strict: bool = True) -> Validator:
        """The jsonschema validator for this mode (strict: `2.0` is not an integer)."""
        if strict:
            if self._strict is None:
                cls = _strict_class(self._base)
                self._strict = cls(self.schema, format_checker=cls.FORMAT_CHECKER)
            return self._strict
        if self._lenient is None:
            self._lenient = self._base(self.schema, format_checker=self._base.FORMAT_CHECKER)
        return self._lenient

    def _fast_check(self, strict: bool) -> _Check | None:
        if strict not in self._fast:
            fast = None
            if self._base is Draft202012Validator:  # the semantics the pre-check mirrors
                fast = _compile_fast(
                    self.schema,
                    strict,
                    self._base.FORMAT_CHECKER,
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
                f"invalid JSON Schema: cannot resolve reference {_shorten(str(error), 120)}"
            ) from None
        except RecursionError:
            return SCHEMA_VIOLATION, "the value is nested too deeply to check against the schema"
        except Exception as error:  # a format checker that crashed: still never raise
            return SCHEMA_VIOLATION, _shorten(
                f"checking the value against the schema failed: {type(error).__name__}: {error}"
            )
        if chosen is None:  # is_valid and iter_errors disagree: treat as valid
            return VALID, ""
        category = CATEGORIES[chosen_rank]
        message = _shorten(chosen.message)
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
            f"invalid JSON Schema: not plain JSON ({_shorten(str(error), 120)})"
        ) from None
    return _compile_canonical(key)


@lru_cache(maxsize=256)
def _compile_canonical(key: str) -> CompiledSchema:
    schema: Mapping[str, Any] | bool = json.loads(key)
    base: type[Validator] = validator_for(schema, default=Draft202012Validator)
    try:
        base.check_schema(schema)  # type: ignore[arg-type]
    except SchemaError as error:
        where = _json_path(error.absolute_path)
        raise InvalidSchemaError(
            f"invalid JSON Schema at {where}: {_shorten(error.message, 160)}"
        ) from None
    return CompiledSchema(schema, base)


# --------------------------------------------------------------------------------------------
# The taxonomy


def _coerce_text(text: object) -> str:
    if isinstance(text, str):
        return str.__str__(text)  # a plain str, whatever a subclass overrides
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text).decode("utf-8", errors="replace")
    raise TypeError(
        f"parse_json() takes the reply's text as str or bytes, not {type(text).__name__}"
    )


def parse_json(
    text: str | bytes,
    schema: Mapping[str, Any] | bool | CompiledSchema | None = None,
    strict: bool = True,
    *,
    finish_reason: str | None = None,
) -> ParsedJson:
    """Check one model output against the strict JSON taxonomy (DESIGN.md) and `schema`.

    Never raises for any text. Raises `InvalidSchemaError` for an invalid `schema` (the
    caller's error, not the model's) and `TypeError` when `text` is not str or bytes.
    """
    if type(text) is not str:
        text = _coerce_text(text)
    compiled = None if schema is None else compile_schema(schema)
    start = 0
    first = text[:1]
    if first != "{" and first != "[":
        body = text.lstrip()
        if not body:
            return _empty(text, finish_reason)
        start = len(text) - len(body)
        first = body[0]
    syntax = None
    if first == "{" or first == "[":
        # The common case first, inline: the whole reply is one JSON value.
        try:
            value = _fast_decode(text)
        except Exception as error:
            syntax = _after_fast_failure(text, start, error)
        else:
            # A value nesting d deep spans at least 2d characters: most outputs are too
            # short to need the depth check at all.
            if len(text) - start <= 2 * MAX_DEPTH or (
                _checked_depth(text, start, len(text), _FITS) is _FITS
            ):
                if compiled is None:
                    return _result(VALID, value, "", None)
                return _conclude(value, start, compiled, strict, "", finish_reason)
            syntax = _complete(text, start, len(text.rstrip(_JSON_WS)), value)
    return _parse_slow(text, start, syntax, compiled, strict, finish_reason)


def _empty(text: str, finish_reason: str | None) -> ParsedJson:
    detail = (
        "the reply is empty"
        if not text
        else f"the reply is only white space ({_characters(len(text))})"
    )
    note = _finish_note(finish_reason, EMPTY_OUTPUT)
    return _result(EMPTY_OUTPUT, None, _with_note(detail, note), None)


def _conclude(
    value: Any,
    start: int,
    compiled: CompiledSchema | None,
    strict: bool,
    note: str,
    finish_reason: str | None,
) -> ParsedJson:
    if compiled is None:
        return _result(VALID, value, note, None)
    category, detail = compiled.check(value, strict=strict)
    if category == VALID:
        return _result(VALID, value, note, None)
    if note:
        detail = f"{detail} ({note})"
    return _result(
        category, value, _with_note(detail, _finish_note(finish_reason, category)), start
    )


def _fence_before(text: str, pos: int) -> int | None:
    """Offset of a code-fence opener (```json) that ends right before `pos`, if any."""
    window = max(0, pos - 64)
    mark = text.rfind("```", window, pos)
    if mark < 0:
        mark = text.rfind("~~~", window, pos)
        if mark < 0:
            return None
    fence_char = text[mark]
    while mark > 0 and text[mark - 1] == fence_char:
        mark -= 1
    match = _FENCE_AT.match(text, mark, pos)
    return mark if match is not None and match.end() == pos else None


def _parse_slow(
    text: str,
    start: int,
    syntax: _Syntax | None,
    compiled: CompiledSchema | None,
    strict: bool,
    finish_reason: str | None,
) -> ParsedJson:
    """Everything but a bare JSON value: find the value, then what surrounds it."""
    n = len(text)
    fence: int | None = None
    if syntax is not None:
        begin = start  # the reply starts with `{` or `[`: always a JSON start
    else:
        opener = _FENCE_AT.match(text, start)
        if opener is not None and opener.end() < n and text[opener.end()] in "{[":
            begin, fence = opener.end(), start  # a fence at the start: always a JSON start
        else:
            found = _JSON_START.search(text, start)
            if found is None:
                return _no_json_start(text, start, finish_reason)
            begin = found.start()
            fence = _fence_before(text, begin)
        # Inside a fence the value most likely ends where the last fence closes.
        closing = -1 if fence is None else text.rfind(text[fence] * 3, begin)
        syntax = _analyze(text, begin, closing if closing > begin else None)

    if syntax.status == _PREFIX:
        return _unterminated(text, begin, n, "", finish_reason)
    if syntax.status == _ERROR:
        if fence is not None:
            # A fence closed before the value is complete: the value was cut off inside it.
            closing = text.find(text[fence] * 3, syntax.end)
            if closing >= 0:
                inner = text[:closing].rstrip()
                if _analyze(inner, begin).status == _PREFIX:
                    return _unterminated(
                        text, begin, closing, " before the code fence closes", finish_reason
                    )
        return _result(
            MALFORMED_JSON,
            None,
            _with_note(syntax.detail, _finish_note(finish_reason, MALFORMED_JSON)),
            syntax.end,
        )

    # A complete value: what surrounds it?
    after = syntax.end
    marker = ""
    if fence is not None:
        marker = text[fence:begin].strip()
        closing_match = _FENCE_CLOSE.match(text, after)
        if closing_match is not None:
            after = closing_match.end()
    rest = text[after:].strip()
    leading = text[start : fence if fence is not None else begin].rstrip()
    second_at = -1
    second_state = ""
    if rest:
        found = _JSON_START.search(text, after)
        if found is not None:
            second_at = found.start()
            second_status = _analyze(text, second_at).status
            second_state = {_OK: "", _PREFIX: " (cut off)", _ERROR: " (malformed)"}[second_status]
            rest = text[after:second_at].strip()

    # The wrappings, in the table's order of precedence.
    notes: dict[str, str] = {}
    if fence is not None:
        notes[FENCED_JSON] = f"a {marker} fence at offset {fence}"
    if second_at >= 0:
        notes[MULTIPLE_JSON] = (
            f"a second JSON value at offset {second_at}{second_state}: {_snippet(text[second_at:])}"
        )
    if leading:
        what = "fence" if fence is not None else "value"
        notes[LEADING_TEXT] = (
            f"{_characters(len(leading))} of text before the {what}: {_snippet(leading)}"
        )
    if rest:
        notes[TRAILING_TEXT] = f"{_characters(len(rest))} of text after the value: {_snippet(rest)}"

    if not strict:
        note = f"lenient: took the JSON value at offset {begin}; ignored " + "; ".join(
            notes.values()
        )
        return _conclude(syntax.value, begin, compiled, False, note, finish_reason)

    if not notes:  # only white space around the value after all
        return _conclude(syntax.value, begin, compiled, strict, "", finish_reason)
    category = next(iter(notes))
    main = notes.pop(category)
    if category == FENCED_JSON:
        main = f"valid JSON inside a {marker} fence at offset {fence}"
        position = fence
    elif category == MULTIPLE_JSON:
        position = second_at
    elif category == LEADING_TEXT:
        position = start
    else:
        position = len(text) - len(text[after:].lstrip())
    detail = main if not notes else f"{main}; also " + "; ".join(notes.values())
    return _result(
        category,
        syntax.value,
        _with_note(detail, _finish_note(finish_reason, category)),
        position,
    )


def _no_json_start(text: str, start: int, finish_reason: str | None) -> ParsedJson:
    body = text[start:]
    detail = f"reply began with {_snippet(body)}"
    first = body[0]
    if first in '"-' or first.isdigit() or body.startswith(_LITERALS):
        detail += "; a bare number, string or literal is not a JSON start (only '{' or '[')"
    note = _finish_note(finish_reason, NO_JSON_START)
    return _result(NO_JSON_START, None, _with_note(detail, note), None)


def _unterminated(
    text: str, begin: int, cut: int, where: str, finish_reason: str | None
) -> ParsedJson:
    shown = _snippet(text[begin:cut].rstrip(), from_end=True)
    detail = f"cut off at offset {cut}{where} after {shown}"
    return _result(
        UNTERMINATED_JSON,
        None,
        _with_note(detail, _finish_note(finish_reason, UNTERMINATED_JSON)),
        cut,
    )


def failure_message(parsed: ParsedJson, text: str | bytes, finish_reason: str | None = None) -> str:
    """The first line of the `JsonFormatError` for `parsed`: one bounded, escaped line.

    Reads like `no_json_start: reply began with 'Sure, here is the…' (finish_reason=stop)`.
    """
    detail = parsed.detail
    if not detail and parsed.category != VALID:
        reply = text if isinstance(text, str) else _coerce_text(text)
        detail = f"reply began with {_snippet(reply.lstrip())}"
    line = f"{parsed.category}: {detail}" if detail else parsed.category
    note = _finish_note(finish_reason, parsed.category)
    if note and note not in line:
        line = f"{line} ({note})"
    return _shorten(line, _LINE_LIMIT)
