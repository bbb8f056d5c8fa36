"""The simulator's uploaded files: what is kept of one, its JSON, batch lines, multipart."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    sample_type: str
    source: str


def file_json(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "object": "file",
        "bytes": len(stored.data),
        "created_at": stored.created_at,
        "filename": stored.filename,
        "purpose": stored.purpose,
        "sample_type": stored.sample_type,
        "source": stored.source,
        "num_lines": len(stored.data.splitlines()),
        "mimetype": "application/jsonl" if stored.filename.endswith(".jsonl") else None,
        "signature": None,
    }


def batch_line(line: str) -> tuple[Any, Any]:
    try:
        item = json.loads(line)
    except ValueError as error:
        return None, f"invalid JSON line: {error}"
    if not isinstance(item, dict):
        return None, "each batch line must be a JSON object"
    return item.get("custom_id"), item.get("body")


_DISPOSITION_NAME = re.compile(r'\bname="([^"]*)"')
_DISPOSITION_FILENAME = re.compile(r'\bfilename="([^"]*)"')


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Fields of a multipart/form-data body: name -> (filename or None, content)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, separator, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("a part has no header block")
        text = head.decode("utf-8", "replace")
        name = _DISPOSITION_NAME.search(text)
        if name is None:
            raise ValueError("a part has no Content-Disposition name")
        filename = _DISPOSITION_FILENAME.search(text)
        parts[name.group(1)] = (
            filename.group(1) if filename else None,
            content.removesuffix(b"\r\n"),
        )
    return parts
