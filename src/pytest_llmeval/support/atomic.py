"""Write files atomically, so a crash or a parallel writer never leaves a partial file."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def write_atomic(path: str | os.PathLike[str], data: str | bytes | Iterable[str]) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`.

    `data` may be pieces of text (a generator), written one by one as they come, so a big
    file is never one string in memory.

    Readers see the old file or the new one, never a mix; a killed writer leaves at most a
    hidden `.tmp` file behind, which no reader ever picks up as a result. The file gets the
    mode any new file gets under the process's umask (`mkstemp` alone makes it 0600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    pieces: Iterable[str | bytes] = [data] if isinstance(data, (str, bytes)) else data
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        os.chmod(temp_name, 0o666 & ~current_umask())
        with os.fdopen(handle, "wb") as stream:
            for piece in pieces:
                stream.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return target


def current_umask() -> int:
    """The process's umask; reading it means setting it, hence the lock and the reset."""
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def write_problem(path: str | os.PathLike[str], *, append: bool = False) -> str | None:
    """Why `path` could not be written (or appended to), or None when it likely can.

    Nothing is created: the nearest folder that exists must let us create what is missing.
    """
    target = Path(path)
    if target.is_dir():
        return f"{target} is a folder, not a file"
    if target.exists():
        if not os.access(target, os.W_OK):
            return f"{target} is not writable"
        if not append and not os.access(target.parent, os.W_OK | os.X_OK):
            return f"its folder {target.parent} is not writable"
        return None
    return folder_problem(target.parent)


def folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why files could not be created in `folder` (made if missing), or None when they can."""
    current = Path(folder)
    while not current.exists():
        if current.parent == current:
            return f"{folder} cannot be created"
        current = current.parent
    if not current.is_dir():
        return f"{current} is a file, not a folder"
    if not os.access(current, os.W_OK | os.X_OK):
        shown = "" if current == Path(folder) else f" (needed to create {folder})"
        return f"{current} is not writable{shown}"
    return None
