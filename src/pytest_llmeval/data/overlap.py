"""Find duplicate rows in a JSONL file and eval prompts that also occur in training data."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import sqlite3
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pytest_llmeval.support.messages import prompt_text

__all__ = [
    "Contamination",
    "ContaminationIndex",
    "Duplicate",
    "DuplicateFinder",
    "ScratchSpaceError",
    "normalize_text",
    "row_digests",
    "text_digest",
]

_NOT_WORD: Final = re.compile(r"[^\w\s]+")
_BATCH: Final = 20_000
# SQLite's page cache and sorter are held to this, so the finder's memory does not grow with
# the file; what does not fit goes to its temporary file.
_SQLITE_CACHE_KIB: Final = 2 * 1024


def normalize_text(text: str) -> str:
    """Text as duplicates are compared: NFKC, case-folded, punctuation dropped, spaces collapsed.

    "Where is my ORDER?!" and "where is my order" normalize alike; digits and letters of every
    script are kept.
    """
    # A row's user turn is normalized for its duplicate digest and again for contamination,
    # and system prompts repeat on every row: short texts come from a small cache.
    return _normalize_cached(text) if len(text) <= _CACHED_TEXT else _normalize(text)


def _normalize(text: str) -> str:
    if text.isascii():
        # The same result as below, several times faster: NFKC and casefold change nothing
        # in ASCII but upper case, and translate has a fast path for ASCII to ASCII.
        return " ".join(text.lower().translate(_ASCII_PUNCTUATION).split())
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


_CACHED_TEXT: Final = 4096
_normalize_cached = functools.lru_cache(maxsize=64)(_normalize)
_ASCII_PUNCTUATION: Final = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}
)


def text_digest(text: str) -> bytes:
    """A 64-bit digest of a text, stable across processes and machines."""
    return hashlib.blake2b(_encode(text), digest_size=8).digest()


def row_digests(raw: bytes, row: dict[str, Any]) -> tuple[bytes, bytes]:
    """The exact digest of a row's line (its bytes) and the digest of its normalized messages.

    Two rows with the same normalized digest hold the same conversation up to case, white
    space, punctuation and key order: the same roles, tool calls and normalized texts.
    """
    exact = hashlib.blake2b(raw.strip(), digest_size=8).digest()
    normalized = hashlib.blake2b(digest_size=8)
    messages = row.get("messages")
    if not isinstance(messages, list):
        # An `input` row of an eval file (or a malformed row): its fields, in key order.
        normalized.update(_encode(normalize_text(_canonical(row))))
        return exact, normalized.digest()
    for message in messages:
        if not isinstance(message, dict):
            normalized.update(_encode(normalize_text(_canonical(message))) + b"\x1e")
            continue
        role = message.get("role")
        content = message.get("content", message.get("text"))
        parts = [
            role if isinstance(role, str) else "",
            normalize_text(prompt_text(content)),
            _canonical(message.get("tool_calls")),
            _canonical(message.get("tool_call_id")),
        ]
        normalized.update(_encode("\x1f".join(parts)) + b"\x1e")
    return exact, normalized.digest()


def _encode(text: str) -> bytes:
    # surrogatepass: a JSON row may carry lone surrogate escapes, which strict UTF-8 refuses.
    return text.encode("utf-8", "surrogatepass")


def _canonical(value: Any) -> str:
    if value is None:
        return ""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (RecursionError, ValueError):
        return repr(type(value))


@dataclass(frozen=True)
class Duplicate:
    """Line `line` repeats line `first` (the earliest line with the same content).

    `kind` is "exact" (the same bytes) or "normalized" (the same conversation once case,
    white space and punctuation are ignored).
    """

    line: int
    first: int
    kind: str


class ScratchSpaceError(Exception):
    """The temporary file of a `DuplicateFinder` cannot be made or written (full disk, a
    read-only or missing temporary folder); the message says which folder."""


@contextlib.contextmanager
def _scratch_space(folder: str) -> Iterator[None]:
    try:
        yield
    except (OSError, sqlite3.Error) as error:
        raise ScratchSpaceError(
            f"cannot keep the duplicate index in {folder} ({error}); set TMPDIR to a "
            "writable folder with room for about 40 bytes a row"
        ) from error


class DuplicateFinder:
    """Collects two digests per line and reports every repeated line, in bounded memory.

    The digests go to a SQLite table in a temporary file, not to a dict: a dict holding two
    digests per row of a 500 MB file takes hundreds of megabytes, the table takes a few
    megabytes of memory (its cache) and 40 bytes per row of disk. Use it as a context manager,
    or call `close()`, so the temporary file is removed.
    """

    def __init__(self, directory: str | None = None) -> None:
        self._where = directory or tempfile.gettempdir()
        with _scratch_space(self._where):
            self._folder = tempfile.TemporaryDirectory(prefix="llmeval-dups-", dir=directory)
            self._db = sqlite3.connect(Path(self._folder.name) / "rows.sqlite")
            for pragma in (
                "journal_mode = OFF",
                "synchronous = OFF",
                "temp_store = FILE",
                f"cache_size = -{_SQLITE_CACHE_KIB}",
            ):
                self._db.execute(f"PRAGMA {pragma}")
            self._db.execute(
                "CREATE TABLE rows (line INTEGER PRIMARY KEY, exact BLOB NOT NULL, "
                "norm BLOB NOT NULL)"
            )
        self._pending: list[tuple[int, bytes, bytes]] = []
        self.exact = 0
        self.normalized = 0

    def __enter__(self) -> DuplicateFinder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add(self, line: int, exact: bytes, normalized: bytes) -> None:
        self._pending.append((line, exact, normalized))
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        with _scratch_space(self._where):
            self._db.executemany("INSERT INTO rows VALUES (?, ?, ?)", self._pending)
        self._pending.clear()

    def duplicates(self) -> Iterator[Duplicate]:
        """Every line that repeats an earlier one, by line number; counts `exact`/`normalized`.

        A line with the same bytes as an earlier one is an exact duplicate of the first such
        line; otherwise a line with the same normalized conversation is a normalized duplicate
        of the first such line.
        """
        self._flush()
        query = """
            SELECT line, first_exact, first_norm FROM (
                SELECT line,
                       MIN(line) OVER (PARTITION BY exact) AS first_exact,
                       MIN(line) OVER (PARTITION BY norm) AS first_norm
                FROM rows)
            WHERE first_exact < line OR first_norm < line
            ORDER BY line
        """
        self.exact = self.normalized = 0
        # The query runs as its rows are fetched, so a full disk can show up at any row.
        with _scratch_space(self._where):
            for line, first_exact, first_norm in self._db.execute(query):
                if first_exact < line:
                    self.exact += 1
                    yield Duplicate(line, first_exact, "exact")
                else:
                    self.normalized += 1
                    yield Duplicate(line, first_norm, "normalized")

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()


@dataclass(frozen=True)
class Contamination:
    """An eval prompt found in training: exactly (normalized) or by word n-gram overlap.

    `train_line` is the first training line holding the prompt (`kind` "exact"), or the one
    that shares the largest share of the prompt's n-grams (`kind` "ngram", `overlap` that
    share, between the threshold and 1).
    """

    eval_line: int
    train_line: int
    kind: str
    overlap: float


@dataclass
class _EvalPrompt:
    line: int
    ngrams: int
    exact_train_line: int = 0
    best_overlap: float = 0.0
    best_train_line: int = 0


@dataclass
class ContaminationIndex:
    """Eval prompts indexed so that one streaming pass over training data finds them.

    The index holds the eval side only: a digest per prompt and the distinct word n-grams of
    each prompt (about 100 bytes each). Training rows are looked up one at a time and never
    kept, so a training file of any size is checked in the memory its eval set needs:
    1,000 prompts of 200 words take about 20 MB.
    """

    ngram_size: int = 8
    _prompts: list[_EvalPrompt] = field(default_factory=list)
    _by_digest: dict[bytes, list[int]] = field(default_factory=dict)
    # n-gram -> the prompt (index) holding it, or the list of them when several do: most
    # n-grams belong to one prompt, and a list per n-gram would double the index's size.
    _by_ngram: dict[int, int | list[int]] = field(default_factory=dict)

    def add_prompt(self, line: int, prompt: str) -> None:
        """Index the eval case on `line`, whose request ends with the user turn `prompt`."""
        normalized = normalize_text(prompt)
        if not normalized:
            return
        index = len(self._prompts)
        grams = set(self._ngrams(normalized))
        self._prompts.append(_EvalPrompt(line, len(grams)))
        self._by_digest.setdefault(text_digest(normalized), []).append(index)
        by_ngram = self._by_ngram
        for gram in grams:
            owners = by_ngram.get(gram)
            if owners is None:
                by_ngram[gram] = index
            elif isinstance(owners, int):
                by_ngram[gram] = [owners, index]
            else:
                owners.append(index)

    def _ngrams(self, normalized: str) -> Iterator[int]:
        """Hashes of the text's word n-grams (repeats included).

        Python's own hash of a word tuple: fast, and the same everywhere in the process,
        which is all an index that lives for one run needs.
        """
        words = normalized.split()
        return map(hash, zip(*(words[i:] for i in range(self.ngram_size)), strict=False))

    def __len__(self) -> int:
        return len(self._prompts)

    def scan_train_row(self, line: int, user_turns: Iterable[str]) -> None:
        """Look up the user turns of the training row on `line` in the eval prompts."""
        if not self._prompts:
            return
        shared: dict[int, int] = {}
        hits: set[int] = set()
        for turn in user_turns:
            normalized = normalize_text(turn)
            for index in self._by_digest.get(text_digest(normalized), ()):
                prompt = self._prompts[index]
                if not prompt.exact_train_line:
                    prompt.exact_train_line = line
            if self._by_ngram:
                # A keys view intersected with an iterator runs in C over the iterator.
                hits |= self._by_ngram.keys() & self._ngrams(normalized)
        for gram in hits:
            owners = self._by_ngram[gram]
            for index in (owners,) if isinstance(owners, int) else owners:
                shared[index] = shared.get(index, 0) + 1
        for index, count in shared.items():
            prompt = self._prompts[index]
            overlap = count / prompt.ngrams
            if overlap > prompt.best_overlap:
                prompt.best_overlap = overlap
                prompt.best_train_line = line

    def contaminated(self, threshold: float) -> list[Contamination]:
        """The eval prompts found in training, by eval line: exact ones, else those whose
        n-gram overlap with one training row is at least `threshold`."""
        found = []
        for prompt in self._prompts:
            if prompt.exact_train_line:
                found.append(Contamination(prompt.line, prompt.exact_train_line, "exact", 1.0))
            elif prompt.ngrams and prompt.best_overlap >= threshold:
                found.append(
                    Contamination(prompt.line, prompt.best_train_line, "ngram", prompt.best_overlap)
                )
        return sorted(found, key=lambda item: item.eval_line)
