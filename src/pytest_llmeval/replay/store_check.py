"""A whole store checked or signed offline: `llmeval store verify` and `llmeval store sign`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval.replay.keys import StoreRequest
from pytest_llmeval.replay.recording import CorruptRecording, read_recording, recording_text
from pytest_llmeval.replay.signing import RecordingSigner, RecordingVerifier, answer_digest
from pytest_llmeval.support.atomic import write_atomic

_NAME = re.compile(r"^(?P<digest>[0-9a-f]{64})-(?P<sample>[0-9]+)\.json$")


@dataclass(frozen=True)
class BadRecording:
    """A recording that cannot be trusted: its path (as shown) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def recording_files(root: Path) -> Iterator[Path]:
    """Every recording file under `root`, in a stable order (`*.json`, symlinks included:
    the check says what is wrong with them)."""
    for folder, folders, files in os.walk(root):
        folders.sort()
        for name in sorted(files):
            if name.endswith(".json"):
                yield Path(folder) / name


def recording_problem(
    file: Path, verifier: RecordingVerifier, document: dict[str, Any] | None = None
) -> str | None:
    """Why the recording in `file` cannot be trusted, or None when its signature holds.

    The request key is the one its stored request gives, and must be the one of its file
    name: a signed answer moved to another request's file is refused.
    """
    if file.is_symlink() or not file.is_file():
        return "not a regular file (a symlink or a device): recordings are plain files"
    if document is None:
        try:
            document = read_recording(file)
        except FileNotFoundError:
            return "disappeared while the store was read"
        except CorruptRecording as error:
            return f"corrupt: {error}"
    named = _NAME.match(file.name)
    if named is None:
        return "its name is not <request key>-<sample>.json"
    digest = _request_digest(document.get("request"))
    if digest is None:
        return 'its "request" is not a request (method, path and body)'
    if digest != named["digest"]:
        return "changed: its request does not match its file name"
    sample = document.get("sample")
    if type(sample) is not int or sample != int(named["sample"]):
        return f"changed: its sample {sample!r} does not match its file name"
    return verifier.problem(
        digest, sample, answer_digest(document["response"]), document.get("signature")
    )


def verify_store(root: Path, verifier: RecordingVerifier, *, shown: str) -> list[BadRecording]:
    """Every recording under `root` that cannot be trusted, each named as `shown/...`."""
    return [
        BadRecording(_shown(file, root, shown), problem)
        for file in recording_files(root)
        if (problem := recording_problem(file, verifier)) is not None
    ]


def sign_store(
    root: Path, signer: RecordingSigner, *, shown: str
) -> tuple[int, list[BadRecording]]:
    """Signs every readable recording under `root` with `signer`; returns how many files were
    (re)written, and the recordings that could not be signed (corrupt, misnamed, symlinks)."""
    signed = 0
    refused: list[BadRecording] = []
    for file in recording_files(root):
        problem, document = _signable(file)
        if document is None:
            refused.append(BadRecording(_shown(file, root, shown), problem))
            continue
        sample = document["sample"]
        digest = _request_digest(document["request"])
        assert digest is not None  # _signable checked it
        signature = signer.sign(digest, sample, answer_digest(document["response"]))
        if document.get("signature") == signature.to_dict():
            continue
        write_atomic(
            file,
            recording_text(document["request"], sample, document["response"], signature.to_dict()),
        )
        signed += 1
    return signed, refused


def _signable(file: Path) -> tuple[str, dict[str, Any] | None]:
    if file.is_symlink() or not file.is_file():
        return "not a regular file (a symlink or a device): not signed", None
    try:
        document = read_recording(file)
    except (FileNotFoundError, CorruptRecording) as error:
        return f"corrupt: {error}; not signed", None
    named = _NAME.match(file.name)
    digest = _request_digest(document.get("request"))
    if named is None or digest != named["digest"]:
        return "its request does not match its file name: not signed", None
    if type(document.get("sample")) is not int or document["sample"] != int(named["sample"]):
        return "its sample does not match its file name: not signed", None
    return "", document


def _request_digest(request: object) -> str | None:
    if not isinstance(request, dict):
        return None
    method, path, body = request.get("method"), request.get("path"), request.get("body")
    body_sha256 = request.get("body_sha256")
    if not isinstance(method, str) or not isinstance(path, str):
        return None
    if body is not None and not isinstance(body, dict):
        return None
    if body_sha256 is not None and not isinstance(body_sha256, str):
        return None
    try:
        return StoreRequest(method, path, body=body, body_sha256=body_sha256).digest
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        return None


def _shown(file: Path, root: Path, shown: str) -> str:
    relative = file.relative_to(root).as_posix()
    return f"{shown.rstrip('/')}/{relative}" if shown else relative
