"""The simulator's answers before they are serialized, and Mistral-shaped error bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "unauthorized",
    404: "not_found",
    422: "invalid_request_error",
    429: "rate_limited",
    503: "service_unavailable",
}


@dataclass(frozen=True)
class Answer:
    """An HTTP answer before serialization; `payload` is JSON data, or raw bytes to download."""

    status: int
    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Over the usual one (application/json, or application/octet-stream for bytes).
    content_type: str | None = None
    #: Seconds between the body's bytes (a dripping server), and whether to stop halfway.
    drip_s: float | None = None
    cut_body: bool = False
    #: A streamed answer: `payload` is these events' bytes, sent one by one, `event_gap_s`
    #: apart.
    events: tuple[bytes, ...] = ()
    event_gap_s: float | None = None


#: Returned instead of a reply when the simulator stopped during a delay: close, say nothing.
DROP = Answer(0, None)


def error_answer(status: int, message: str, error_type: str | None = None) -> Answer:
    kind = (
        error_type
        or _ERROR_TYPES.get(status)
        or ("internal_server_error" if status >= 500 else "invalid_request_error")
    )
    payload = {
        "object": "error",
        "message": message,
        "type": kind,
        "param": None,
        "code": str(status),
    }
    return Answer(status, payload)


def missing_field(name: str, message: str) -> Answer:
    """A 422 shaped like Mistral's, which the SDK raises as `HTTPValidationError`."""
    payload = {
        "object": "error",
        "message": message,
        "type": "invalid_request_error",
        "detail": [{"type": "missing", "loc": ["body", name], "msg": message, "input": None}],
    }
    return Answer(422, payload)
