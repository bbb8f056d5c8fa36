"""Request keys: a model request as the store sees it, and the names derived from it."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

_SLUG_LIMIT = 80


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
            body = canonical_json(self.body)
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


def recording_name(request: StoreRequest, sample: int = 0) -> str:
    """The request's digest and sample index, e.g. `3fa2…c9-0`: the recording's name."""
    if sample < 0:
        raise ValueError(f"sample must be zero or more, not {sample}")
    return f"{request.digest}-{sample}"


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


@functools.lru_cache(maxsize=64)
def endpoint_slug(path: str) -> str:
    """The endpoint path as a safe folder name: `/v1/chat/completions` -> `v1-chat-completions`."""
    route = path.partition("?")[0]
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", route).strip("-.") or "root"
    if len(slug) > _SLUG_LIMIT:
        slug = slug[:_SLUG_LIMIT] + "-" + hashlib.sha256(route.encode()).hexdigest()[:8]
    return slug


def canonical_json(value: Any) -> str:
    """`value` as compact JSON with sorted keys: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
