"""The recording file format: one recorded request and its response, read and written."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pytest_llmeval.errors import json_decode_problem
from pytest_llmeval.replay.file_guard import UnsafeRecording, read_bounded
from pytest_llmeval.replay.keys import StoreRequest

FORMAT = 1
"""Version of the recording file layout; a file of another version reads as corrupt."""


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
    # The sha256 of the recording's `response` object (`signing.answer_digest`), when the
    # store read it from a file: what the report's `answers` compare run to run.
    answer: str | None = None

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


class CorruptRecording(Exception):
    """A recording file that cannot be read back; the message says why."""


class UntrustedRecording(CorruptRecording):
    """A recording file the store must not read: a link, not a regular file, too large."""


def request_part(request: StoreRequest) -> dict[str, Any]:
    """The `request` object of a recording."""
    part: dict[str, Any] = {"method": request.method, "path": request.path, "body": request.body}
    if request.body_sha256 is not None:
        part["body_sha256"] = request.body_sha256
    return part


def response_part(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """The `response` object of a recording: the body as JSON when it is JSON, else text,
    else base64."""
    return {"status": status, "content_type": content_type, **_encode_body(body)}


def recording_text(
    request: Mapping[str, Any],
    sample: int,
    response: Mapping[str, Any],
    signature: Mapping[str, str] | None = None,
) -> str:
    """A recording file's text: sorted keys and indentation, so recordings diff well; with
    the `signature` of the trusted recording environment when it has one (signing.py)."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "request": request,
        "sample": sample,
        "response": response,
    }
    if signature is not None:
        document["signature"] = dict(signature)
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def read_recording(file: Path | str) -> dict[str, Any]:
    """The parsed recording; raises CorruptRecording saying what is wrong with it."""
    try:
        text = read_bounded(str(file)).decode("utf-8")
    except FileNotFoundError:
        raise
    except UnsafeRecording as error:
        raise UntrustedRecording(str(error)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CorruptRecording(f"cannot be read: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptRecording(json_decode_problem(error)) from None
    if not isinstance(document, dict):
        raise CorruptRecording("not a JSON object")
    if document.get("format") != FORMAT:
        raise CorruptRecording(f"format {document.get('format')!r} is not {FORMAT}")
    request, response = document.get("request"), document.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise CorruptRecording('no "request" or no "response" object')
    if not isinstance(response.get("status"), int):
        raise CorruptRecording('"response.status" is not a number')
    if not isinstance(response.get("content_type", ""), str):
        raise CorruptRecording('"response.content_type" is not a string')
    if not any(key in response for key in ("body", "body_text", "body_base64")):
        raise CorruptRecording('no "response.body", "response.body_text" or "body_base64"')
    if "body_base64" in response:
        try:
            base64.b64decode(response["body_base64"], validate=True)
        except (TypeError, ValueError):
            raise CorruptRecording('"response.body_base64" is not base64') from None
    elif "body_text" in response and not isinstance(response["body_text"], str):
        raise CorruptRecording('"response.body_text" is not a string')
    return document


def request_mismatch(document: Mapping[str, Any], request: StoreRequest) -> str | None:
    """Why the request stored in a recording is not `request` (the one its file name stands
    for), or None when it is: a recording copied or renamed onto another request's key."""
    stored = document.get("request")
    wanted = request_part(request)
    if not isinstance(stored, Mapping):
        return "it holds no request"
    for key in ("method", "path", "body", "body_sha256"):
        if stored.get(key) != wanted.get(key):
            return (
                f"its stored request's {key} does not match the request it is filed under"
                " (a recording copied or renamed onto another request)"
            )
    return None


def stored_response(document: Mapping[str, Any], answer: str | None = None) -> StoredResponse:
    """The response of a recording that `read_recording` accepted (`answer`: its digest)."""
    response = document["response"]
    headers = {"content-type": response.get("content_type", "")}
    if "body" in response:
        return StoredResponse(
            response["status"], headers, json_body=response["body"], answer=answer
        )
    if "body_text" in response:
        body = response["body_text"].encode("utf-8")
    else:
        body = base64.b64decode(response["body_base64"])
    return StoredResponse(response["status"], headers, body, answer=answer)


def _encode_body(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(body).decode("ascii")}
    try:
        return {"body": json.loads(text)}
    except json.JSONDecodeError:
        return {"body_text": text}
