"""Sample indexes: which answer of a repeated identical request a call replays or records."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class SampleCounter:
    """Numbers repeated identical requests within one case, so each replays its own answer.

    With `--llm-repeat=N`, run `r` of a case counts `r, r + N, r + 2N, ...` (`offset` r,
    `stride` N): every run of every case has sample indexes of its own, so the store records
    and replays each run's answers apart, never one answer copied N times.
    """

    def __init__(self, offset: int = 0, stride: int = 1) -> None:
        if stride < 1 or not 0 <= offset < stride:
            raise ValueError(f"SampleCounter needs 0 <= offset < stride, got {offset}, {stride}")
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._offset = offset
        self._stride = stride

    def claim(
        self, key: str, look: Callable[[int], T | None], *, claim_on_miss: bool
    ) -> tuple[int, T | None]:
        """`look(index)` at the next index of `key`, which is taken when it finds something
        (or always, with `claim_on_miss`): atomic, so concurrent calls never share an index."""
        with self._lock:
            count = self._seen.get(key, 0)
            index = count * self._stride + self._offset
            found = look(index)
            if found is not None or claim_on_miss:
                self._seen[key] = count + 1
            return index, found
