"""Reading a recording's bytes only from a regular file in the store, and only so many.

A store is committed with the pull request it checks, so its files are the pull request's
too: a recording committed as a symbolic link to `/dev/zero` would be read until memory ran
out, one linked to a file outside the store would replay whatever that file holds. A file
is opened without following a link (`O_NOFOLLOW`) and without waiting on a pipe
(`O_NONBLOCK`), must then be a regular file, and is read up to `MAX_RECORDING_BYTES`.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

#: The largest recording read: a chat answer is a few kilobytes, a batch file a few megabytes.
MAX_RECORDING_BYTES: Final = 64 * 1024 * 1024

_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)


class UnsafeRecording(Exception):
    """A recording file the store refuses to read; the message says why (no file name)."""


def read_bounded(path: str, limit: int = MAX_RECORDING_BYTES) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    Raises `FileNotFoundError` when there is no file, `UnsafeRecording` for a symbolic link,
    anything but a regular file, or a file larger than `limit`, and `OSError` otherwise.
    """
    if not hasattr(os, "O_NOFOLLOW") and os.path.islink(path):
        raise UnsafeRecording(_LINK)
    try:
        descriptor = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP or os.path.islink(path):
            raise UnsafeRecording(_LINK) from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeRecording("is not a regular file (a device, pipe or folder)")
        if info.st_size > limit:
            raise UnsafeRecording(too_large(info.st_size, limit))
        chunks: list[bytes] = []
        left = limit + 1  # one byte more tells a file that grew past the limit
        while left > 0:
            chunk = os.read(descriptor, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise UnsafeRecording(too_large(len(data), limit))
        return data
    finally:
        os.close(descriptor)


def linked_folder(root: str, folder: str) -> str | None:
    """The first folder from `root` (excluded: the store itself may be a link the user made)
    down to `folder` that is a symbolic link, or None."""
    relative = os.path.relpath(folder, root)
    if relative.startswith(os.pardir):
        return folder
    current = root
    for part in relative.split(os.sep):
        if part in ("", os.curdir):
            continue
        current = os.path.join(current, part)
        if os.path.islink(current):
            return current
    return None


def too_large(size: int, limit: int) -> str:
    return (
        f"is {size} bytes, over the {limit // (1024 * 1024)} MB limit of a recording"
        " (MAX_RECORDING_BYTES)"
    )


_LINK = "is a symbolic link; a recording must be a regular file in the store"
