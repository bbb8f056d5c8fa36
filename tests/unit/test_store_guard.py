"""The store reads only regular files of its own, and only so many bytes of each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_llmeval.replay.file_guard import (
    MAX_RECORDING_BYTES,
    UnsafeRecording,
    linked_folder,
    read_bounded,
)


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    file = tmp_path / "a.json"
    file.write_bytes(b'{"format": 1}')
    assert read_bounded(str(file)) == b'{"format": 1}'


def test_a_missing_file_is_a_miss(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bounded(str(tmp_path / "none.json"))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    link = tmp_path / "a.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnsafeRecording, match="symbolic link"):
        read_bounded(str(link))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    pipe = tmp_path / "a.json"
    os.mkfifo(pipe)
    with pytest.raises(UnsafeRecording, match="not a regular file"):
        read_bounded(str(pipe))


def test_a_file_over_the_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    file = tmp_path / "a.json"
    file.write_bytes(b"x" * 2048)
    with pytest.raises(UnsafeRecording, match="2048 bytes, over the 0 MB limit"):
        read_bounded(str(file), limit=1024)
    assert MAX_RECORDING_BYTES == 64 * 1024 * 1024


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_a_linked_folder_inside_the_store_is_found(tmp_path: Path) -> None:
    (tmp_path / "outside" / "ab").mkdir(parents=True)
    store = tmp_path / "store"
    store.mkdir()
    (store / "v1-chat-completions").symlink_to(tmp_path / "outside")
    found = linked_folder(str(store), str(store / "v1-chat-completions" / "ab"))
    assert found == str(store / "v1-chat-completions")
    (store / "v1-moderations" / "cd").mkdir(parents=True)
    assert linked_folder(str(store), str(store / "v1-moderations" / "cd")) is None
