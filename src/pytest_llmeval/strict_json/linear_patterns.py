"""Schema patterns run in linear time: RE2, fed a translation that keeps Python's `re` verdicts.

A backtracking engine (Python's `re`, and `regress` too) takes exponential time on patterns
such as `^([A-Za-z]+ ?)*$` against a reply that almost matches: six words hang a check for
minutes. RE2 never backtracks. It reads most of `re`'s syntax, but a few things differ: its
`\\d`, `\\w` and `\\s` are ASCII where `re`'s are Unicode, its `$` is the very end where `re`'s
also matches before a final newline, `{,3}` is literal text to it and `{0,3}` to `re`. So
the pattern is rewritten token by token into what RE2 reads the way `re` does, and anything
the rewriting does not know for certain (lookaround, backreferences, `\\b`, possessive
quantifiers, verbose or ASCII mode, ...) gives None: `patterns.py` then runs the pattern in
a process of its own under a time limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

#: `search(text)`: a match object when the pattern matches somewhere in `text`, else None.
Search = Callable[[str], Any]

_SURROGATE = re.compile("[\ud800-\udfff]")
_QUANTIFIER = re.compile(r"\{(\d*)(?:,(\d*))?\}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")

# Python's \w is a letter, a number or "_" (str.isalnum); RE2 knows the categories.
_WORD = r"\p{L}\p{N}_"
_DIGIT = r"\p{Nd}"  # Python's \d is Unicode's decimal digits


class Untranslatable(Exception):
    """The pattern uses something RE2 would not read as `re` does."""


@cache
def _spaces() -> str:
    """Python's \\s as the members of a character class: every character `str.isspace` takes
    (the last is U+3000, the ideographic space)."""
    members = [chr(code) for code in range(0x3001) if chr(code).isspace()]
    return "".join(f"\\x{{{ord(char):x}}}" for char in members)


def translate(pattern: str) -> str:
    """`pattern` (one Python's `re` compiles) in RE2 syntax with the same meaning; raises
    `Untranslatable` when that cannot be had for certain."""
    out: list[str] = []
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\":
            token, index = _escape(pattern, index, in_class=False)
            out.append(token)
            continue
        if char == "[":
            token, index = _char_class(pattern, index)
            out.append(token)
            continue
        if char == "(":
            token = _group_opening(pattern, index)  # always the pattern's own text
            out.append(token)
            index += len(token)
            continue
        if char == "$":
            following = pattern[index + 1 : index + 2]
            if following not in ("", ")", "|"):
                raise Untranslatable("$ before more pattern")
            out.append(r"(?:\n?\z)")  # re's $: the end, or just before a final newline
            index += 1
            continue
        if char == "{":
            found = _QUANTIFIER.match(pattern, index)
            if found is None:
                out.append(r"\{")  # re reads a brace that is no quantifier as itself
                index += 1
                continue
            low, high = found.group(1), found.group(2)
            if found.group(0) == "{}" or (found.group(2) is None and low == ""):
                out.append(r"\{")
                index += 1
                continue
            out.append(f"{{{low or 0},{high}}}" if high is not None else f"{{{low}}}")
            index = found.end()
            if pattern[index : index + 1] == "+":
                raise Untranslatable("a possessive quantifier")
            continue
        if char in "*+?":
            out.append(char)
            index += 1
            if pattern[index : index + 1] == "+":
                raise Untranslatable("a possessive quantifier")
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _group_opening(pattern: str, index: int) -> str:
    """The group opening at `index` as RE2 writes it; only plain, named and i/s-flag groups."""
    if not pattern.startswith("(?", index):
        return "("
    rest = pattern[index + 2 :]
    if rest.startswith(":"):
        return "(?:"
    if rest.startswith("P<") or (rest.startswith("<") and rest[1:2] not in ("=", "!")):
        end = pattern.find(">", index)
        if end == -1:
            raise Untranslatable("an unclosed group name")
        return pattern[index : end + 1]
    flags = re.match(r"([is]+)(:|\))", rest)
    if flags is not None:
        return pattern[index : index + 2 + flags.end()]
    raise Untranslatable(f"the group {pattern[index : index + 4]!r}")


def _escape(pattern: str, index: int, *, in_class: bool) -> tuple[str, int]:
    """The escape at `index` (a backslash) and the index after it."""
    letter = pattern[index + 1 : index + 2]
    after = index + 2
    if letter == "d":
        return _DIGIT, after
    if letter == "D":
        return r"\P{Nd}", after
    if letter == "w":
        return (_WORD if in_class else f"[{_WORD}]"), after
    if letter == "s":
        return (_spaces() if in_class else f"[{_spaces()}]"), after
    if not in_class and letter == "W":
        return f"[^{_WORD}]", after
    if not in_class and letter == "S":
        return f"[^{_spaces()}]", after
    if letter == "u" and _HEX4.fullmatch(pattern, after, after + 4):
        return f"\\x{{{pattern[after : after + 4]}}}", after + 4
    if letter == "U" and _HEX8.fullmatch(pattern, after, after + 8):
        return f"\\x{{{pattern[after : after + 8]}}}", after + 8
    if letter == "x" and _HEX2.fullmatch(pattern, after, after + 2):
        return pattern[index : after + 2], after + 2
    if in_class and letter == "b":
        return r"\x08", after  # a backspace, in a class
    if letter == "A" and not in_class:
        return r"\A", after
    if letter in "ntrfva":
        return pattern[index:after], after
    if letter and not letter.isalnum():
        return pattern[index:after], after  # an escaped punctuation mark or space
    raise Untranslatable(f"the escape \\{letter}")


def _char_class(pattern: str, index: int) -> tuple[str, int]:
    """The character class opening at `index`, translated, and the index after it."""
    out = ["["]
    position = index + 1
    if pattern[position : position + 1] == "^":
        out.append("^")
        position += 1
    first = True
    while position < len(pattern):
        char = pattern[position]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), position + 1
        first = False
        if char == "\\":
            token, position = _escape(pattern, position, in_class=True)
            out.append(token)
            continue
        if char == "[":
            if pattern[position + 1 : position + 2] in (":", ".", "="):
                raise Untranslatable("a POSIX class, which re reads as characters")
            out.append(r"\[")
        elif char == "]":
            out.append(r"\]")
        else:
            out.append(char)
        position += 1
    raise Untranslatable("an unclosed character class")


@lru_cache(maxsize=1024)
def linear_search(pattern: str) -> Search | None:
    """RE2's search function for a pattern `re` compiles, or None where the translation or
    RE2 cannot be trusted to give `re`'s verdict."""
    try:
        translated = translate(pattern)
    except Untranslatable:
        return None
    # The extension's own class: the `re2` module's search wraps each call in match objects
    # and position tables, seven times the cost of the match itself on a short reply.
    from re2 import _re2  # type: ignore[import-untyped]

    options = _re2.RE2.Options()
    options.log_errors = False  # a refused pattern is ours to handle, not a line on stderr
    options.never_capture = True  # only whether it matches is asked
    compiled = _re2.RE2(translated.encode("utf-8"), options)
    if not compiled.ok():
        return None
    match, unanchored = compiled.Match, _re2.RE2.Anchor.UNANCHORED

    def search(text: str) -> Any:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (JSON allows "\ud800") has no UTF-8 form: matched as U+FFFD.
            data = _SURROGATE.sub("\ufffd", text).encode("utf-8")
        return True if match(unanchored, data, 0, len(data))[0][0] != -1 else None

    return search
