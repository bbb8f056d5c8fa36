"""Strict JSON checking of model outputs: `parse_json` and its failure taxonomy.

The package's parts, imported one way only (this module imports them, never the reverse):
`syntax` (is the value complete, cut off or malformed, and where), `schema` (the schema
categories of a parsed value, with `fastcheck`, its fast pre-check) and `quoting` (bounded
quotes of the reply in a detail).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

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
    NO_TOOL_CALL,
    RANGE_VIOLATION,
    SCHEMA_VIOLATION,
    TRAILING_TEXT,
    TYPE_MISMATCH,
    UNEXPECTED_FIELD,
    UNKNOWN_TOOL,
    UNTERMINATED_JSON,
    VALID,
)
from pytest_llmeval.strict_json import syntax as _syntax
from pytest_llmeval.strict_json.quoting import shorten, snippet
from pytest_llmeval.strict_json.schema import CompiledSchema, compile_schema
from pytest_llmeval.strict_json.syntax import (
    ERROR,
    FITS,
    JSON_START,
    JSON_WS,
    LITERALS,
    MAX_DEPTH,
    OK,
    PREFIX,
    Syntax,
    after_fast_failure,
    analyze,
    checked_depth,
    complete,
)

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
    "NO_TOOL_CALL",
    "RANGE_VIOLATION",
    "SCHEMA_VIOLATION",
    "TRAILING_TEXT",
    "TYPE_MISMATCH",
    "UNEXPECTED_FIELD",
    "UNKNOWN_TOOL",
    "UNTERMINATED_JSON",
    "VALID",
    "CompiledSchema",
    "ParsedJson",
    "compile_schema",
    "failure_message",
    "parse_json",
]

# The longest first line of a JsonFormatError.
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


# A code fence's opening line (```json) and its closing marks.
_FENCE_AT: Final = re.compile(r"(`{3,}|~{3,})[ \t]*[\w+.#-]*\s*")
_FENCE_CLOSE: Final = re.compile(r"\s*(`{3,}|~{3,})")


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
            # Looked up on the syntax module, as `analyze` does: both read one decoder.
            value = _syntax._fast_decode(text)
        except Exception as error:
            syntax = after_fast_failure(text, start, error)
        else:
            # A value nesting d deep spans at least 2d characters: most outputs are too
            # short to need the depth check at all.
            if len(text) - start <= 2 * MAX_DEPTH or (
                checked_depth(text, start, len(text), FITS) is FITS
            ):
                if compiled is None:
                    return _result(VALID, value, "", None)
                return _conclude(value, start, compiled, strict, "", finish_reason)
            syntax = complete(text, start, len(text.rstrip(JSON_WS)), value)
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
    syntax: Syntax | None,
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
            found = JSON_START.search(text, start)
            if found is None:
                return _no_json_start(text, start, finish_reason)
            begin = found.start()
            fence = _fence_before(text, begin)
        # Inside a fence the value most likely ends where the last fence closes.
        closing = -1 if fence is None else text.rfind(text[fence] * 3, begin)
        syntax = analyze(text, begin, closing if closing > begin else None)

    if syntax.status == PREFIX:
        return _unterminated(text, begin, n, "", finish_reason)
    if syntax.status == ERROR:
        if fence is not None:
            # A fence closed before the value is complete: the value was cut off inside it.
            closing = text.find(text[fence] * 3, syntax.end)
            if closing >= 0:
                inner = text[:closing].rstrip()
                if analyze(inner, begin).status == PREFIX:
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
        found = JSON_START.search(text, after)
        if found is not None:
            second_at = found.start()
            second_status = analyze(text, second_at).status
            second_state = {OK: "", PREFIX: " (cut off)", ERROR: " (malformed)"}[second_status]
            rest = text[after:second_at].strip()

    # The wrappings, in the table's order of precedence.
    notes: dict[str, str] = {}
    if fence is not None:
        notes[FENCED_JSON] = f"a {marker} fence at offset {fence}"
    if second_at >= 0:
        notes[MULTIPLE_JSON] = (
            f"a second JSON value at offset {second_at}{second_state}: {snippet(text[second_at:])}"
        )
    if leading:
        what = "fence" if fence is not None else "value"
        notes[LEADING_TEXT] = (
            f"{_characters(len(leading))} of text before the {what}: {snippet(leading)}"
        )
    if rest:
        notes[TRAILING_TEXT] = f"{_characters(len(rest))} of text after the value: {snippet(rest)}"

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
    detail = f"reply began with {snippet(body)}"
    first = body[0]
    if first in '"-' or first.isdigit() or body.startswith(LITERALS):
        detail += "; a bare number, string or literal is not a JSON start (only '{' or '[')"
    note = _finish_note(finish_reason, NO_JSON_START)
    return _result(NO_JSON_START, None, _with_note(detail, note), None)


def _unterminated(
    text: str, begin: int, cut: int, where: str, finish_reason: str | None
) -> ParsedJson:
    shown = snippet(text[begin:cut].rstrip(), from_end=True)
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
        detail = f"reply began with {snippet(reply.lstrip())}"
    line = f"{parsed.category}: {detail}" if detail else parsed.category
    note = _finish_note(finish_reason, parsed.category)
    if note and note not in line:
        line = f"{line} ({note})"
    return shorten(line, _LINE_LIMIT)


def _characters(count: int) -> str:
    return "1 character" if count == 1 else f"{count} characters"


def _finish_note(finish_reason: str | None, category: str) -> str:
    """What the reply's finish_reason says about the failure, or "" when unknown."""
    if finish_reason is None or category == VALID:
        return ""
    shown = shorten(str(finish_reason), 40)
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
