"""Answering requests from the store: record modes, sample indexes, recordings to save."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

from .keys import StoreRequest, recording_name
from .recording import StoredResponse
from .store import ReplayStore

T = TypeVar("T")


class RecordMode(str, Enum):
    """`--llm-record-mode`: replay only; replay hits and record misses; record everything."""

    NONE = "none"
    NEW_EPISODES = "new_episodes"
    ALL = "all"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


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


@dataclass(frozen=True)
class PendingRecording:
    """A live answer not saved yet: the transport makes it, the endpoint hands it back to
    the `Replayer` once the SDK has accepted the body, or drops it when the SDK rejects it
    (so a replay never answers where the live call failed)."""

    request: StoreRequest
    sample: int
    status: int
    content_type: str
    body: bytes


class Replayer:
    """Answers requests from the store, for the transport and for `Endpoint.replayed_chat`.

    A case's repeated identical requests get sample indexes 0, 1, 2, ...; an index is
    claimed under the case's counter lock together with the lookup, so two calls of one case
    made at once never get the same index.
    """

    def __init__(self, store: ReplayStore, mode: RecordMode) -> None:
        self.store = store
        self.mode = RecordMode(mode)

    def replay(
        self,
        request: StoreRequest,
        samples: SampleCounter | None,
        read: Callable[[StoredResponse], T | None],
        *,
        claim_on_miss: bool,
    ) -> tuple[int, T | None]:
        """`(sample, read(recording))` for the request's next sample, or `(sample, None)`.

        The sample index is taken when `read` accepts the recording, and also on a miss when
        `claim_on_miss` (the caller then sends the request as that sample). In mode `all`
        nothing is looked up.
        """
        key = recording_name(request, 0)

        def look(sample: int) -> T | None:
            if self.mode is RecordMode.ALL:
                return None
            stored = self.store.load(request, sample)
            return None if stored is None else read(stored)

        if samples is None:
            return 0, look(0)
        return samples.claim(key, look, claim_on_miss=claim_on_miss)

    def record(self, pending: PendingRecording) -> Path:
        """Saves an answer the SDK accepted; returns the file written."""
        return self.store.save(
            pending.request, pending.sample, pending.status, pending.content_type, pending.body
        )
