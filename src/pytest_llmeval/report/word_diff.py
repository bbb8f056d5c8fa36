"""A word-level diff of two texts, for showing a flipped case's output before and after."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Literal, NamedTuple

# A word and the white space after it stay one token, so a changed word does not also
# show the spaces around it as changed, and joining the tokens gives the text back.
_TOKEN = re.compile(r"\S+\s*|\s+")

# Past this many tokens on either side the diff is the whole of both texts, one deleted and
# one inserted: SequenceMatcher is quadratic in the worst case and a reviewer reading a
# 5,000-word rewrite gains nothing from its word-by-word alignment.
MAX_TOKENS = 2000


class DiffPart(NamedTuple):
    """One stretch of the diff: text both outputs share, or only the old or the new one has."""

    kind: Literal["same", "del", "ins"]
    text: str


def words(text: str) -> list[str]:
    """`text` as diff tokens: each word with the white space that follows it."""
    return _TOKEN.findall(text)


def word_diff(before: str, after: str) -> list[DiffPart]:
    """The parts that turn `before` into `after`, word by word.

    Joining the `same` and `del` parts gives `before` back, the `same` and `ins` parts
    `after`; neighbouring parts of one kind are merged.
    """
    old, new = words(before), words(after)
    if len(old) > MAX_TOKENS or len(new) > MAX_TOKENS:
        return _merged([DiffPart("del", before), DiffPart("ins", after)])
    parts: list[DiffPart] = []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            parts.append(DiffPart("same", "".join(old[old_start:old_end])))
            continue
        if old_end > old_start:
            parts.append(DiffPart("del", "".join(old[old_start:old_end])))
        if new_end > new_start:
            parts.append(DiffPart("ins", "".join(new[new_start:new_end])))
    return _merged(parts)


def _merged(parts: list[DiffPart]) -> list[DiffPart]:
    merged: list[DiffPart] = []
    for part in parts:
        if not part.text:
            continue
        if merged and merged[-1].kind == part.kind:
            merged[-1] = DiffPart(part.kind, merged[-1].text + part.text)
        else:
            merged.append(part)
    return merged
