"""Recorded model responses on disk: request keys, replay look-ups, and why a look-up missed."""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pytest_llmeval.atomic import write_atomic
from pytest_llmeval.errors import ReplayMissError, SecretLeakError

if TYPE_CHECKING:
    from pytest_llmeval.records import SampleCounter

T = TypeVar("T")

#: `--llm-record-mode`: replay only; replay hits and record misses; record everything anew.
RECORD_MODES = ("none", "new_episodes", "all")

__all__ = ["FORMAT", "ReplayStore", "StoreRequest", "StoredResponse", "redact"]

FORMAT = 1
"""Version of the recording file layout; a file of another version reads as corrupt."""

MIN_SECRET_LENGTH = 8
"""Shorter strings are not treated as secrets: they would match ordinary text."""

_MAX_DIFFERENCES = 3
_SLUG_LIMIT = 80


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (non-empty, at least 8 characters) replaced by `***`."""
    for secret in sorted(_usable_secrets(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class StoreRequest:
    """A model request as the replay key sees it: method, endpoint path and JSON body.

    The path keeps only what follows the server's prefix (`/v1/...`), so one recording
    replays against any server URL. The body drops null fields, which the SDK may or may not
    send. Headers, host, API key, timeouts and retries are never part of a request here.
    A body that is not a JSON object is kept only as its `body_sha256`.
    """

    method: str
    path: str
    body: dict[str, Any] | None = None
    body_sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "path", endpoint_path(self.path))
        if self.body is not None:
            object.__setattr__(self, "body", _without_nulls(self.body))

    @classmethod
    def from_http(cls, method: str, path: str, content: bytes) -> StoreRequest:
        """The request of an HTTP call: `path` may be a full URL or carry a server prefix."""
        if not content:
            return cls(method, path)
        try:
            parsed = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        if isinstance(parsed, dict):
            return cls(method, path, body=parsed)
        return cls(method, path, body_sha256=hashlib.sha256(content).hexdigest())

    def __hash__(self) -> int:
        return hash(self.digest)

    @cached_property
    def digest(self) -> str:
        """Hex sha256 of the canonical request: the key without its sample index."""
        if self.body is not None:
            body = _canonical(self.body)
        elif self.body_sha256 is not None:
            body = f"sha256:{self.body_sha256}"
        else:
            body = ""
        return hashlib.sha256(f"{self.method} {self.path}\n{body}".encode()).hexdigest()

    @property
    def model(self) -> str | None:
        """The `model` field of the body, when there is one."""
        model = self.body.get("model") if self.body is not None else None
        return model if isinstance(model, str) else None

    def describe(self) -> str:
        """`POST /v1/chat/completions (model mistral-small-latest)`, for messages."""
        model = self.model
        return f"{self.method} {self.path}" + (f" (model {model})" if model else "")


@functools.lru_cache(maxsize=256)
def endpoint_path(path: str) -> str:
    """`path` (or a URL) from its `/v1` segment on, with the query string kept.

    `http://host:8000/mistral/v1/chat/completions` and `/v1/chat/completions` are the same
    endpoint; a path without a `v1` segment is kept whole.
    """
    if "://" in path:
        parts = urlsplit(path)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    route, question, query = path.partition("?")
    segments = route.split("/")
    if "v1" in segments:
        route = "/" + "/".join(segments[segments.index("v1") :])
    elif not route.startswith("/"):
        route = "/" + route
    return route + question + query


@dataclass(frozen=True)
class StoredResponse:
    """A recorded response: what the transport hands back to the SDK on a replay hit.

    `json_body` is the body as parsed JSON when it was recorded as JSON, else None; `body`
    is its bytes, made on first use (a replay read without the SDK never needs them).
    """

    status: int
    headers: Mapping[str, str]
    body_bytes: bytes | None = None
    json_body: Any = None

    @property
    def content_type(self) -> str:
        """The recorded `content-type` header ("" when none was recorded)."""
        return self.headers.get("content-type", "")

    @cached_property
    def body(self) -> bytes:
        if self.body_bytes is not None:
            return self.body_bytes
        # Compact re-serialization: the SDK parses it to the same response model.
        return json.dumps(self.json_body, separators=(",", ":"), ensure_ascii=False).encode()


class _CorruptRecording(Exception):
    """A recording file that cannot be read back; the message says why."""


class ReplayStore:
    """Recorded responses under `root`, one JSON file per request and sample index.

    Layout: `<root>/<endpoint-slug>/<digest[:2]>/<digest>-<sample>.json`, where the slug is
    the endpoint path made file-name safe (`v1-chat-completions`) and the digest is
    `StoreRequest.digest`. Files are written atomically, with sorted keys and indentation,
    so parallel writers never leave a partial file and recordings diff well in git.
    """

    def __init__(self, root: str | os.PathLike[str], *, secrets: Sequence[str] = ()) -> None:
        self.root = Path(root)
        self._root_text = str(self.root)
        self._secrets = tuple(_usable_secrets(secrets))
        self._lock = threading.Lock()
        # (method, path) -> digests of its recorded requests, for explain_miss; built on the
        # first miss of that endpoint and kept up to date by save(), so thousands of
        # recordings are read once per process, not once per miss.
        self._index: dict[tuple[str, str], _EndpointIndex] = {}

    def key(self, request: StoreRequest, sample: int = 0) -> str:
        """The request's digest and sample index, e.g. `3fa2…c9-0`: the recording's name."""
        if sample < 0:
            raise ValueError(f"sample must be zero or more, not {sample}")
        return f"{request.digest}-{sample}"

    def file_for(self, request: StoreRequest, sample: int = 0) -> Path:
        """Where the recording of `request`'s `sample`-th identical call lives."""
        return self._folder(request) / f"{self.key(request, sample)}.json"

    def load(self, request: StoreRequest, sample: int = 0) -> StoredResponse | None:
        """The recorded response, or None when there is none or its file is corrupt.

        A corrupt file is left in place (`explain_miss` names it); recording again replaces it.
        """
        # A plain string path: a replayed session builds one per call, and pathlib's
        # joining costs more than reading the file.
        digest = request.digest
        name = os.path.join(
            self._root_text, _slug(request.path), digest[:2], f"{self.key(request, sample)}.json"
        )
        try:
            document = _read_recording(name)
        except (FileNotFoundError, _CorruptRecording):
            return None
        return _response_from(document)

    def save(
        self,
        request: StoreRequest,
        sample: int,
        status: int,
        content_type: str,
        body: bytes,
    ) -> Path:
        """Record a final 2xx response; returns the file written.

        Raises `ValueError` for any other status, and `SecretLeakError` (writing nothing)
        when a secret appears in the request or the response.
        """
        if not 200 <= status < 300:
            raise ValueError(f"only 2xx responses are recorded, not {status}")
        target = self.file_for(request, sample)
        request_part: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "body": request.body,
        }
        if request.body_sha256 is not None:
            request_part["body_sha256"] = request.body_sha256
        response_part = {"status": status, "content_type": content_type, **_encode_body(body)}
        self._refuse_secrets(request, request_part, "request", target)
        self._refuse_secrets(request, response_part, "response body", target, raw=body)
        document = {
            "format": FORMAT,
            "request": request_part,
            "sample": sample,
            "response": response_part,
        }
        text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        write_atomic(target, text)
        with self._lock:
            index = self._index.get((request.method, request.path))
            if index is not None and request.body is not None:
                index.add(request.digest, request.body, target)
        return target

    def explain_miss(self, request: StoreRequest, sample: int = 0) -> str:
        """One line on why `request` has no recording, from the nearest one of its endpoint.

        e.g. `temperature 0.7 != 0.0 (recorded); messages[1].content differs: 'Classify th…'
        != 'Classify ti…' (recorded) (nearest recording: v1-chat-completions/3f/3f…-0.json)`.
        """
        return redact(self._explain(request, sample), self._secrets)

    def miss_error(self, request: StoreRequest, sample: int = 0) -> ReplayMissError:
        """The error for a miss in `--llm-record-mode=none`, with `explain_miss`'s reason."""
        message = (
            f"no recorded response for {request.describe()}, sample {sample}, in {self.root}: "
            f"{self.explain_miss(request, sample)}; "
            "record it with --llm-record-mode=new_episodes"
        )
        return ReplayMissError(message, endpoint=request.path, model=request.model)

    def _folder(self, request: StoreRequest) -> Path:
        return self.root / _slug(request.path) / request.digest[:2]

    def _refuse_secrets(
        self,
        request: StoreRequest,
        part: Mapping[str, Any],
        where: str,
        target: Path,
        raw: bytes = b"",
    ) -> None:
        text = json.dumps(part, sort_keys=True, ensure_ascii=False)
        for secret in self._secrets:
            escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
            if secret in text or escaped in text or secret.encode("utf-8") in raw:
                raise SecretLeakError(
                    f"refusing to record {request.describe()}: the {where} contains the API "
                    f"key; nothing was written to {target}"
                )

    def _explain(self, request: StoreRequest, sample: int) -> str:
        exact = self.file_for(request, sample)
        if exact.exists():
            try:
                _read_recording(exact)
            except _CorruptRecording as error:
                return (
                    f"the recording {self._shown(exact)} is corrupt ({error}); "
                    "delete it or record it again"
                )
            except FileNotFoundError:
                pass
            else:
                return f"the recording {self._shown(exact)} exists (written by another process?)"
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
                index = _EndpointIndex.scan(self.root / _slug(request.path), *endpoint)
                self._index[endpoint] = index
            nearest = index.nearest(request.body)
        if nearest is None:
            corrupt = f" ({index.corrupt} corrupt files)" if index.corrupt else ""
            return f"nothing recorded for {request.method} {request.path} in {self.root}{corrupt}"
        try:
            recorded = _read_recording(nearest)["request"]["body"]
        except (OSError, _CorruptRecording) as error:
            return f"the nearest recording {self._shown(nearest)} cannot be read ({error})"
        if not isinstance(recorded, dict):
            return f"the nearest recording {self._shown(nearest)} has no request body"
        differences = list(
            itertools.islice(_body_differences(request.body, recorded), _MAX_DIFFERENCES + 1)
        )
        shown = "; ".join(differences[:_MAX_DIFFERENCES])
        if len(differences) > _MAX_DIFFERENCES:
            shown += "; and more"
        return f"{shown} (nearest recording: {self._shown(nearest)})"

    def _shown(self, file: Path) -> str:
        try:
            return str(file.relative_to(self.root))
        except ValueError:
            return str(file)


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
                recorded = _read_recording(file)["request"]
            except (OSError, _CorruptRecording):
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


def _read_recording(file: Path | str) -> dict[str, Any]:
    """The parsed recording; raises _CorruptRecording saying what is wrong with it."""
    try:
        with open(file, "rb") as stream:
            text = stream.read().decode("utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        raise _CorruptRecording(f"cannot be read: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise _CorruptRecording(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(document, dict):
        raise _CorruptRecording("not a JSON object")
    if document.get("format") != FORMAT:
        raise _CorruptRecording(f"format {document.get('format')!r} is not {FORMAT}")
    request, response = document.get("request"), document.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise _CorruptRecording('no "request" or no "response" object')
    if not isinstance(response.get("status"), int):
        raise _CorruptRecording('"response.status" is not a number')
    if not isinstance(response.get("content_type", ""), str):
        raise _CorruptRecording('"response.content_type" is not a string')
    if not any(key in response for key in ("body", "body_text", "body_base64")):
        raise _CorruptRecording('no "response.body", "response.body_text" or "body_base64"')
    if "body_base64" in response:
        try:
            base64.b64decode(response["body_base64"], validate=True)
        except (TypeError, ValueError):
            raise _CorruptRecording('"response.body_base64" is not base64') from None
    elif "body_text" in response and not isinstance(response["body_text"], str):
        raise _CorruptRecording('"response.body_text" is not a string')
    return document


def _encode_body(body: bytes) -> dict[str, Any]:
    """The response body as stored: parsed JSON when it is JSON, else text, else base64."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(body).decode("ascii")}
    try:
        return {"body": json.loads(text)}
    except json.JSONDecodeError:
        return {"body_text": text}


def _response_from(document: Mapping[str, Any]) -> StoredResponse:
    response = document["response"]
    headers = {"content-type": response.get("content_type", "")}
    if "body" in response:
        return StoredResponse(response["status"], headers, json_body=response["body"])
    if "body_text" in response:
        body = response["body_text"].encode("utf-8")
    else:
        body = base64.b64decode(response["body_base64"])
    return StoredResponse(response["status"], headers, body)


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
    text = _canonical(value)
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


@functools.lru_cache(maxsize=64)
def _slug(path: str) -> str:
    """The endpoint path as a safe folder name: `/v1/chat/completions` -> `v1-chat-completions`."""
    route = path.partition("?")[0]
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", route).strip("-.") or "root"
    if len(slug) > _SLUG_LIMIT:
        slug = slug[:_SLUG_LIMIT] + "-" + hashlib.sha256(route.encode()).hexdigest()[:8]
    return slug


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _short_digest(value: Any) -> str:
    return hashlib.blake2b(_canonical(value).encode(), digest_size=8).hexdigest()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _usable_secrets(secrets: Iterable[str]) -> Iterator[str]:
    return (secret for secret in secrets if secret and len(secret) >= MIN_SECRET_LENGTH)


class Replayer:
    """Answers requests from the store, for the transport and for `Endpoint.replayed_chat`.

    A case's repeated identical requests get sample indexes 0, 1, 2, ...; an index is
    claimed under the case's counter lock together with the lookup, so two calls of one case
    made at once never get the same index.
    """

    def __init__(self, store: ReplayStore, mode: str) -> None:
        if mode not in RECORD_MODES:
            raise ValueError(f"record mode must be one of {', '.join(RECORD_MODES)}, not {mode!r}")
        self.store = store
        self.mode = mode

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
        key = self.store.key(request, 0)

        def look(sample: int) -> T | None:
            if self.mode == "all":
                return None
            stored = self.store.load(request, sample)
            return None if stored is None else read(stored)

        if samples is None:
            return 0, look(0)
        return samples.claim(key, look, claim_on_miss=claim_on_miss)
