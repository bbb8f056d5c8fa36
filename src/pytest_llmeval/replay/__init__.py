"""Record and replay of model calls: request keys, the recording format, the store, misses.

Imports run one way: keys <- recording <- explain <- store <- replayer; nothing here imports
the case records, and no submodule imports this package's `__init__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from ..settings import RecordMode
    from .keys import StoreRequest, endpoint_path
    from .recording import FORMAT, StoredResponse
    from .replayer import PendingRecording, Replayer
    from .samples import SampleCounter
    from .store import ReplayStore

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
