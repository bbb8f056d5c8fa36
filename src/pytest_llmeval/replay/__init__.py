"""Record and replay of model calls: request keys, the recording format, the store, misses.

Imports run one way: keys <- recording <- explain <- store <- replayer; nothing here imports
the case records, and no submodule imports this package's `__init__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmeval.support.lazy import lazy_attributes

if TYPE_CHECKING:
    from pytest_llmeval.replay.keys import StoreRequest, endpoint_path
    from pytest_llmeval.replay.record_mode import RecordMode
    from pytest_llmeval.replay.recording import FORMAT, StoredResponse
    from pytest_llmeval.replay.replayer import PendingRecording, Replayer
    from pytest_llmeval.replay.samples import SampleCounter
    from pytest_llmeval.replay.store import ReplayStore

# Read on first access: importing one submodule (every session imports `samples`) runs this
# file, and must not load the store and recording code with it.
_HOMES = {
    "FORMAT": ".recording",
    "PendingRecording": ".replayer",
    "RecordMode": "..settings",
    "ReplayStore": ".store",
    "Replayer": ".replayer",
    "SampleCounter": ".samples",
    "StoreRequest": ".keys",
    "StoredResponse": ".recording",
    "endpoint_path": ".keys",
}


__getattr__ = lazy_attributes(__name__, _HOMES)


__all__ = [
    "FORMAT",
    "PendingRecording",
    "RecordMode",
    "ReplayStore",
    "Replayer",
    "SampleCounter",
    "StoreRequest",
    "StoredResponse",
    "endpoint_path",
]
