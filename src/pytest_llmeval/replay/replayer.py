"""Answering requests from the store, and the recordings it is to save."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pytest_llmeval.replay.keys import StoreRequest, recording_name
from pytest_llmeval.replay.record_mode import RecordMode
from pytest_llmeval.replay.recording import StoredResponse, response_part
from pytest_llmeval.replay.samples import SampleCounter
from pytest_llmeval.replay.store import ReplayStore

T = TypeVar("T")


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

    @property
    def answer(self) -> str:
        """The digest of the answer as it is recorded (`signing.answer_digest`)."""
        from pytest_llmeval.replay.signing import answer_digest

        return answer_digest(response_part(self.status, self.content_type, self.body))


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
