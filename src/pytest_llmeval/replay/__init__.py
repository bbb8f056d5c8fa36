"""Record and replay of model calls: request keys, the recording format, the store, misses.

Imports run one way: keys <- recording <- explain <- store <- replayer; nothing here imports
the case records, and no submodule imports this package's `__init__`.
"""

from __future__ import annotations

from .keys import StoreRequest, endpoint_path
from .recording import FORMAT, StoredResponse
from .replayer import PendingRecording, RecordMode, Replayer, SampleCounter
from .store import ReplayStore

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
