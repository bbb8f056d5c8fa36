"""Why a replay look-up missed: the nearest recording of the endpoint and what differs."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmeval.replay.keys import StoreRequest, canonical_json
from pytest_llmeval.replay.recording import CorruptRecording, read_recording
from pytest_llmeval.support.paths import shown_path

_MAX_DIFFERENCES = 3


class MissExplainer:
    """Explains misses of one store; keeps an index of each endpoint's recorded requests.

    The index of an endpoint is built on its first miss and kept up to date by `saved`, so
    thousands of recordings are read once per process, not once per miss.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._index: dict[tuple[str, str], _EndpointIndex] = {}

    def saved(self, request: StoreRequest, file: Path) -> None:
        """Takes a newly written recording into the endpoint's index, if it has one."""
        with self._lock:
            index = self._index.get((request.method, request.path))
            if index is not None and request.body is not None:
                index.add(request.digest, request.body, file)

    def explain(self, request: StoreRequest, sample: int, exact: Path, folder: Path) -> str:
        """Why `request`'s `sample` is not at `exact`, looking at the recordings in `folder`
        (the endpoint's folder)."""
        if exact.exists():
            try:
                read_recording(exact)
            except CorruptRecording as error:
                return (
                    f"the recording {self.shown(exact)} is corrupt ({error}); "
                    "delete it or record it again"
                )
            except FileNotFoundError:
                pass
            else:
                return f"the recording {self.shown(exact)} exists (written by another process?)"
        samples = sorted(
            int(found.stem.rsplit("-", 1)[1])
            for found in exact.parent.glob(f"{request.digest}-*.json")
            if found.stem.rsplit("-", 1)[1].isdigit()
        )
        if samples:
            return (
                f"sample {sample} not recorded (only samples {_ranges(samples)} exist); "
                "the test now makes more identical calls than when it was recorded"
            )
        if request.body is None:
            return f"no recording of {request.method} {request.path} has this request body"
        endpoint = (request.method, request.path)
        with self._lock:
            index = self._index.get(endpoint)
            if index is None:
                index = _EndpointIndex.scan(folder, *endpoint)
                self._index[endpoint] = index
            nearest = index.nearest(request.body)
        if nearest is None:
            corrupt = f" ({index.corrupt} corrupt files)" if index.corrupt else ""
            return f"nothing recorded for {request.method} {request.path} in {self.root}{corrupt}"
        try:
            recorded = read_recording(nearest)["request"]["body"]
        except (OSError, CorruptRecording) as error:
            return f"the nearest recording {self.shown(nearest)} cannot be read ({error})"
        if not isinstance(recorded, dict):
            return f"the nearest recording {self.shown(nearest)} has no request body"
        differences = list(
            itertools.islice(_body_differences(request.body, recorded), _MAX_DIFFERENCES + 1)
        )
        shown = "; ".join(differences[:_MAX_DIFFERENCES])
        if len(differences) > _MAX_DIFFERENCES:
            shown += "; and more"
        return f"{shown} (nearest recording: {self.shown(nearest)})"

    def shown(self, file: Path) -> str:
        """`file` as shown in messages: relative to the store's root where it is inside."""
        return shown_path(file, self.root)


_Settings = frozenset[tuple[str, str]]
"""Every body field but the messages, as (name, digest of the value) pairs."""
_MessagePrints = tuple[str, ...] | None
"""A digest per message, or None when the body has no message list."""


def _fingerprint(body: Mapping[str, Any]) -> tuple[_Settings, _MessagePrints]:
    """A request body reduced to digests: cheap to keep for thousands of recordings."""
    settings = frozenset(
        (key, _short_digest(value)) for key, value in body.items() if key != "messages"
    )
    messages = body.get("messages")
    prints = tuple(map(_short_digest, messages)) if isinstance(messages, list) else None
    return settings, prints


def _messages_distance(current: _MessagePrints, recorded: _MessagePrints) -> float:
    """The share of message positions that differ: 0 when equal, 1 when nothing matches."""
    if current == recorded:
        return 0.0
    if current is None or recorded is None:
        return 1.0
    length = max(len(current), len(recorded))
    same = sum(mine == theirs for mine, theirs in zip(current, recorded, strict=False))
    return (length - same) / length


@dataclass
class _EndpointIndex:
    """The recordings of one endpoint, grouped by their settings (all fields but messages)."""

    digests: set[str] = field(default_factory=set)
    groups: dict[_Settings, list[tuple[_MessagePrints, Path]]] = field(default_factory=dict)
    corrupt: int = 0

    @classmethod
    def scan(cls, folder: Path, method: str, path: str) -> _EndpointIndex:
        """Read every recording of `method` and `path` in their endpoint's folder."""
        index = cls()
        for file in sorted(folder.glob("*/*.json")):
            digest = file.stem.rsplit("-", 1)[0]
            if digest in index.digests:
                continue  # another sample of a request already indexed
            try:
                recorded = read_recording(file)["request"]
            except (OSError, CorruptRecording):
                index.corrupt += 1
                continue
            # The slug folder may hold another path that slugs alike, or another method.
            body = recorded.get("body")
            if (
                recorded.get("method") == method
                and recorded.get("path") == path
                and isinstance(body, dict)
            ):
                index.add(digest, body, file)
        return index

    def add(self, digest: str, body: Mapping[str, Any], file: Path) -> None:
        if digest not in self.digests:
            self.digests.add(digest)
            settings, messages = _fingerprint(body)
            self.groups.setdefault(settings, []).append((messages, file))

    def nearest(self, body: Mapping[str, Any]) -> Path | None:
        """The recording with the fewest differing fields, where the messages count as the
        share of positions that differ."""
        settings, messages = _fingerprint(body)
        best: tuple[float, Path] | None = None
        # Most recordings of a suite share a few settings: weigh each group's settings once,
        # and skip a group whose settings alone cannot beat the best so far.
        for group_settings, members in self.groups.items():
            base = len({name for name, _ in settings ^ group_settings})
            if best is not None and base >= best[0]:
                continue
            for recorded_messages, file in members:
                distance = base + _messages_distance(messages, recorded_messages)
                if best is None or distance < best[0]:
                    best = (distance, file)
                    if distance == base:
                        break
        return best[1] if best is not None else None


def _body_differences(current: Mapping[str, Any], recorded: Mapping[str, Any]) -> Iterator[str]:
    """What differs between two canonical bodies, the model first and the messages last."""
    keys = current.keys() | recorded.keys()
    for key in sorted(keys, key=lambda key: (key != "model", key == "messages", key)):
        yield from _differences(current.get(key), recorded.get(key), key)


def _differences(current: Any, recorded: Any, label: str) -> Iterator[str]:
    if current == recorded and type(current) is type(recorded):
        return
    if recorded is None:
        yield f"{label} {_short(current)} (not in the recording)"
    elif current is None:
        yield f"{label} missing (recorded {_short(recorded)})"
    elif isinstance(current, dict) and isinstance(recorded, dict):
        for key in sorted(current.keys() | recorded.keys()):
            yield from _differences(current.get(key), recorded.get(key), f"{label}.{key}")
    elif isinstance(current, list) and isinstance(recorded, list):
        if len(current) != len(recorded):
            yield f"{label} has {len(current)} items != {len(recorded)} (recorded)"
        for position, (mine, theirs) in enumerate(zip(current, recorded, strict=False)):
            yield from _differences(mine, theirs, f"{label}[{position}]")
    elif isinstance(current, str) and isinstance(recorded, str) and len(current) > 20:
        mine, theirs = _excerpts(current, recorded)
        yield f"{label} differs: {mine} != {theirs} (recorded)"
    else:
        yield f"{label} {_short(current)} != {_short(recorded)} (recorded)"


def _excerpts(first: str, second: str) -> tuple[str, str]:
    """Both strings cut around the first character where they differ."""
    common = next(
        (at for at, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
        min(len(first), len(second)),
    )
    # Up to 20 characters of the shared beginning, for context.
    start = 0 if common <= 20 else common - 20

    def cut(text: str) -> str:
        end = common + 6
        piece = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
        return repr(piece)

    return cut(first), cut(second)


def _short(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:39] + "…")
    text = canonical_json(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _ranges(numbers: Sequence[int]) -> str:
    """`[0, 1, 2, 5]` as `0-2, 5`."""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ", ".join(parts)


def _short_digest(value: Any) -> str:
    return hashlib.blake2b(canonical_json(value).encode(), digest_size=8).hexdigest()
