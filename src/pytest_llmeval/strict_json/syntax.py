"""JSON syntax of one value in a reply: complete, cut off or malformed, and where.

msgspec's decoder is the fast path, the standard library's C scanner says where and why it
failed, and a small iterative scanner decides what neither can tell.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Final

import msgspec.json

from pytest_llmeval.strict_json.quoting import near, snippet

#: Containers nested deeper than this are `malformed_json` ("too deep"), even when the text
#: is also cut off. A fixed limit keeps the verdict independent of the caller's stack depth
#: (the C decoder's own limit is not): far deeper than any real output, yet well inside
#: what the decoder parses from an ordinary call stack.
MAX_DEPTH: Final = 512

OK: Final = 0
PREFIX: Final = 1
ERROR: Final = 2


class Syntax:
    """What one JSON value starting at an offset turned out to be."""

    __slots__ = ("detail", "end", "status", "value")

    def __init__(self, status: int, end: int, value: Any = None, detail: str = "") -> None:
        self.status = status
        self.end = end  # OK: offset just after the value; ERROR: offset of the problem
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
# Strings (a last one may be cut off) and brackets of text the decoder already validated.
_STRING_SRC: Final = r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)'
_STRING_OR_OTHER: Final = re.compile(_STRING_SRC + r'|[^\[\]{}"]+', re.DOTALL)
_STRING_OR_BRACKET: Final = re.compile(_STRING_SRC + r"|[\[\]{}]", re.DOTALL)
_BRACKET_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}
LITERALS: Final = ("true", "false", "null")

# A `{` or `[` after other text begins a JSON value only when its first token does not fail
# (DESIGN.md). This one regex finds the next such bracket at C speed, so prose with many
# brackets (`[note]`, `{name}`) never runs Python code per bracket. A token cut off by the
# end of the text does not fail: it may be the start of a truncated value. A number run into
# letters (`[1st]`, the `[31m` of a terminal colour code) is one failed word, not a number.
_STRING_TOKEN: Final = (
    r'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'
    r'(?:"|\\(?:u[0-9a-fA-F]{0,3})?\Z|\Z)'
)
JSON_START: Final = re.compile(
    r"\{[ \t\n\r]*(?:\}|" + _STRING_TOKEN + r"|\Z)"
    r"|\[[ \t\n\r]*(?:[\]\[{]|" + _STRING_TOKEN + r"|"
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![-+.\w])|"
    + _NUMBER_PREFIX_SRC
    + r"|(?:true|false|null)(?![A-Za-z0-9_])"
    r"|(?:t(?:ru?)?|f(?:a(?:ls?)?)?|n(?:ul?)?)\Z)"
)

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


def analyze(text: str, start: int, stop: int | None = None) -> Syntax:
    """Decide what the JSON value starting at `text[start]` (a `{` or `[`) is.

    `stop` is where the caller expects the value to end (a closing code fence): a guess
    that only chooses the fast path; the verdict is the same with or without it.
    """
    piece = text if start == 0 and stop is None else text[start:stop]
    try:
        value = _fast_decode(piece)
    except Exception as error:
        return after_fast_failure(text, start, error if stop is None else None)
    # The piece is the value with only JSON white space after it.
    return complete(text, start, start + len(piece.rstrip(JSON_WS)), value)


# The fast path: msgspec's decoder parses a whole text about 2.5 times faster than the
# standard library's. It accepts a subset of what the standard library accepts (it refuses
# lone surrogate escapes, non-finite numbers and deep nesting) and gives the same value for
# it, big integers included; whatever it refuses goes to the standard library's decoder,
# whose errors say where and why. Its one error taken as a verdict is "truncated", and only
# where it cannot be wrong (see `_may_misreport_cut`).
_fast_decode: Final[Callable[[str], Any]] = msgspec.json.Decoder().decode
_TRUNCATED: Final = "Input data was truncated"
JSON_WS: Final = " \t\n\r"


def after_fast_failure(text: str, start: int, error: Exception | None) -> Syntax:
    """The verdict once msgspec refused text[start:] with `error` (None: a slice of it)."""
    n = len(text)
    if error is not None and str(error) == _TRUNCATED and not _may_misreport_cut(text):
        return checked_depth(text, start, n, Syntax(PREFIX, n))
    try:
        value, end = _scan_once(text, start)
    except Exception as scan_error:
        return _from_exception(text, start, scan_error)
    return complete(text, start, end, value)


def complete(text: str, start: int, end: int, value: Any) -> Syntax:
    outcome = Syntax(OK, end, value)
    # A complete value nesting d deep spans at least 2d characters.
    return outcome if end - start <= 2 * MAX_DEPTH else checked_depth(text, start, end, outcome)


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
            before = text[max(0, pos - 64) : pos].rstrip(JSON_WS)
            if not before or before[-1] in "[,:":
                return True
    return False


def _from_exception(text: str, start: int, error: Exception) -> Syntax:
    if isinstance(error, StopIteration):
        # The C scanner's "no value here", raised from inside a container; raw_decode
        # would turn it into "Expecting value".
        outcome = _from_decoder_error(text, start, "Expecting value", int(error.value))
    elif isinstance(error, json.JSONDecodeError):
        outcome = _from_decoder_error(text, start, error.msg, error.pos)
    elif isinstance(error, RecursionError):
        # Deeper than the decoder's own limit, which is above MAX_DEPTH: everything before
        # the deep point is valid, so the depth walk finds it without the slow scanner.
        return checked_depth(text, start, len(text), Syntax(PREFIX, len(text)), _fallback)
    else:
        # Non-finite numbers and integers beyond Python's conversion limit come without a
        # position: the scanner finds it.
        return _fallback(text, start)
    # A cut-off or malformed value may nest too deep before its other problem.
    return checked_depth(text, start, outcome.end, outcome)


def checked_depth(
    text: str,
    start: int,
    stop: int,
    outcome: Syntax,
    otherwise: Callable[[str, int], Syntax] | None = None,
) -> Syntax:
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


FITS: Final = Syntax(OK, 0)  # a marker: the depth check found nothing


def _too_deep(pos: int) -> Syntax:
    return Syntax(
        ERROR, pos, detail=f"nesting too deep: more than {MAX_DEPTH} levels at offset {pos}"
    )


def _from_decoder_error(text: str, start: int, message: str, pos: int) -> Syntax:
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
            return Syntax(PREFIX, n)
        return _invalid_escape(text, body_end)
    if message.startswith("Unterminated string"):
        body_end = _match_end(_STRING_BODY, text, pos + 1)
        if body_end >= n or _PARTIAL_ESCAPE.match(text, body_end):
            return Syntax(PREFIX, n)
        return _fallback(text, start)
    if _match_end(_WS, text, pos) >= n:
        return Syntax(PREFIX, n)
    if message == "Expecting value":
        tail = text[pos:]
        if tail == "-" or (len(tail) < 5 and any(word.startswith(tail) for word in LITERALS)):
            return Syntax(PREFIX, n)
        return _malformed(text, pos, _EXPECT_VALUE)
    if message.startswith("Expecting property name"):
        return _malformed(text, pos, _EXPECT_KEY)
    if message.startswith("Expecting ','"):
        if _number_continues(text, start, pos):
            return Syntax(PREFIX, n)
        return _malformed(text, pos, _EXPECT_COMMA)
    if message.startswith("Expecting ':'"):
        return _malformed(text, pos, _EXPECT_COLON)
    # A message this code does not know (a newer Python): let the scanner decide.
    return _fallback(text, start)


def _fallback(text: str, start: int) -> Syntax:
    outcome = scan(text, start)
    if outcome.status == OK:
        # The scanner accepts only what the C decoder refused for lack of stack: the
        # caller's own stack was already deep. Still an answer, never an exception.
        return Syntax(
            ERROR,
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


def scan(text: str, start: int) -> Syntax:
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
            return Syntax(PREFIX, n)
        ch = text[i]
        if state == _S_AFTER_VALUE:
            if ch == ",":
                state = _S_KEY if stack[-1] == "{" else _S_VALUE
                i += 1
            elif ch == ("}" if stack[-1] == "{" else "]"):
                stack.pop()
                i += 1
                if not stack:
                    return Syntax(OK, i)
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
                if outcome.status != OK:
                    return outcome
                i = outcome.end
                state = _S_COLON
            elif ch == "}" and state == _S_KEY_OR_CLOSE:
                stack.pop()
                i += 1
                state = _S_AFTER_VALUE
                if not stack:
                    return Syntax(OK, i)
            else:
                return _malformed(text, i, _EXPECT_KEY)
        elif state in value_states:
            if ch == "]" and state == _S_VALUE_OR_CLOSE:
                stack.pop()
                i += 1
                state = _S_AFTER_VALUE
                if not stack:
                    return Syntax(OK, i)
            elif ch in "{[":
                if len(stack) >= MAX_DEPTH:
                    return _too_deep(i)
                stack.append(ch)
                i += 1
                state = _S_KEY_OR_CLOSE if ch == "{" else _S_VALUE_OR_CLOSE
            elif ch == '"':
                outcome = _scan_string(text, i)
                if outcome.status != OK:
                    return outcome
                i = outcome.end
                state = _S_AFTER_VALUE
            elif ch == "-" or "0" <= ch <= "9":
                outcome = _scan_number(text, i)
                if outcome.status != OK:
                    return outcome
                i = outcome.end
                state = _S_AFTER_VALUE
            else:
                for word in LITERALS:
                    if text.startswith(word, i):
                        i += len(word)
                        state = _S_AFTER_VALUE
                        break
                else:
                    if n - i < 5 and any(word.startswith(text[i:]) for word in LITERALS):
                        return Syntax(PREFIX, n)
                    return _malformed(text, i, _EXPECT_VALUE)


_S_VALUE: Final = 0  # a value must follow (after ':' or ',' in an array)
_S_VALUE_OR_CLOSE: Final = 1  # just after '['
_S_KEY: Final = 2  # after ',' in an object
_S_KEY_OR_CLOSE: Final = 3  # just after '{'
_S_COLON: Final = 4
_S_AFTER_VALUE: Final = 5  # ',' or the closing bracket


def _scan_string(text: str, i: int) -> Syntax:
    n = len(text)
    j = _match_end(_STRING_BODY, text, i + 1)
    if j < n and text[j] == '"':
        return Syntax(OK, j + 1)
    if j >= n or _PARTIAL_ESCAPE.match(text, j):
        return Syntax(PREFIX, n)
    if text[j] == "\\":
        return _invalid_escape(text, j)
    return _control_character(text, j)


def _scan_number(text: str, i: int) -> Syntax:
    n = len(text)
    match = _NUMBER.match(text, i)
    if match is None:
        if _NUMBER_PREFIX.match(text, i):  # "-" at the very end
            return Syntax(PREFIX, n)
        return _malformed(text, i, _EXPECT_VALUE)
    if match.end() < n and text[match.end()] in ".eE" and _NUMBER_PREFIX.match(text, i):
        return Syntax(PREFIX, n)  # "1." or "1e+" at the very end
    token = match.group()
    if any(mark in token for mark in ".eE"):
        if float(token) - float(token) != 0.0:
            return Syntax(
                ERROR,
                i,
                detail=(f"non-finite number: {snippet(token)} at offset {i} overflows to infinity"),
            )
    else:
        limit = _int_digit_limit()
        digits = len(token) - token.startswith("-")
        if limit and digits > limit:
            return Syntax(
                ERROR,
                i,
                detail=(
                    f"integer too long: {digits} digits at offset {i} (Python converts "
                    f"at most {limit})"
                ),
            )
    return Syntax(OK, match.end())


def _invalid_escape(text: str, pos: int) -> Syntax:
    return Syntax(
        ERROR,
        pos,
        detail=f"invalid escape {snippet(text[pos : pos + 6])} in a string at offset {pos}",
    )


def _control_character(text: str, pos: int) -> Syntax:
    return Syntax(
        ERROR,
        pos,
        detail=(
            f"raw control character {text[pos]!r} inside a string at offset {pos} "
            f"(JSON needs it escaped) {near(text, pos)}"
        ),
    )


def _malformed(text: str, pos: int, expected: str) -> Syntax:
    """Name what is wrong at `pos`, where the parser expected `expected`."""
    ch = text[pos]
    where = f"at offset {pos} {near(text, pos)}"
    if ch in "]}":
        before = text[:pos].rstrip()
        if before.endswith(","):
            comma = len(before) - 1
            return Syntax(
                ERROR, comma, detail=f"trailing comma at offset {comma} {near(text, comma)}"
            )
    if ch == "'":
        return Syntax(ERROR, pos, detail=f"single quotes {where}: JSON needs double quotes")
    if (ch == "/" and text.startswith(("//", "/*"), pos)) or ch == "#":
        return Syntax(ERROR, pos, detail=f"comment {where}: JSON has no comments")
    sign = 1 if ch in "+-" else 0
    word_match = _WORD.match(text, pos + sign)
    if word_match is not None:
        word = word_match.group()
        if not sign and word in ("True", "False", "None"):
            return Syntax(
                ERROR,
                pos,
                detail=f"Python literal {word} {where}: JSON uses true, false and null",
            )
        if word.lower() in ("nan", "infinity", "inf"):
            shown = text[pos : word_match.end()]
            return Syntax(
                ERROR,
                pos,
                detail=f"non-finite number {shown} {where}: JSON has no NaN or Infinity",
            )
        if expected == _EXPECT_KEY and not sign:
            return Syntax(
                ERROR,
                pos,
                detail=f"unquoted property name {word!r} {where}: JSON needs double quotes",
            )
    if expected == _EXPECT_COMMA and (ch in '"{[-' or ch.isdigit()):
        return Syntax(ERROR, pos, detail=f"missing ',' between values {where}")
    return Syntax(
        ERROR,
        pos,
        detail=f"syntax error {where}: expected {expected}, found {ch!r}",
    )
