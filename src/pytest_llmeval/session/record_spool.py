"""The session's case records, kept in a temporary file while the session runs, so that a big
run does not hold every record in memory until its report is built."""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Callable, Collection, Iterator
from typing import IO, TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from pytest_llmeval.case_record import CaseRecord


class RecordSpool:
    """Case records in arrival order, written one by one to an anonymous temporary file
    (under TMPDIR; on Linux and macOS it has no name, so nothing is left behind however the
    process ends).

    Memory holds where each record starts, its node id (the string pytest already holds) and
    the count of records that did not pass. A record the file cannot take (a full disk, no
    temporary folder) is kept in memory instead: a record is never lost.
    """

    def __init__(self, folder: str | None = None) -> None:
        self._folder = folder
        self._file: IO[bytes] | None = None
        self._spilling = True
        self._offsets = array("q")  # where each record starts; -1: kept in `_held`
        self._sizes = array("q")
        self._held: dict[int, CaseRecord] = {}
        self._nodeids: list[str] = []  # "" for a record without one (the builder names it)
        self._opening_turns: dict[tuple[str, str], dict[str, Any]] = {}  # (role, text) -> one
        self._end = 0
        self.not_passed = 0  # records whose outcome is not "passed"
        self.problem: str | None = None  # why records are held in memory, once they are

    def append(self, record: CaseRecord) -> None:
        index = len(self._nodeids)
        nodeid = record.get("nodeid")
        self._nodeids.append(nodeid if type(nodeid) is str else "")
        if record.get("outcome") != "passed":
            self.not_passed += 1
        if self._spilling:
            try:
                self._write(record)
                return
            except OSError as error:
                self._spilling = False
                where = self._folder or tempfile.gettempdir()
                self.problem = f"case records are kept in memory: cannot write to {where}: {error}"
        self._offsets.append(-1)
        self._sizes.append(0)
        self._held[index] = record

    def _write(self, record: CaseRecord) -> None:
        if self._file is None:
            # Unbuffered: a write that fails (a full disk) fails here, not at a later flush.
            # Open as long as the spool is; `close` closes it.
            self._file = tempfile.TemporaryFile(  # noqa: SIM115
                prefix="llmeval-records-", dir=self._folder, buffering=0
            )
        data = memoryview(_encode(record))
        descriptor, written = self._file.fileno(), 0
        while written < len(data):
            written += os.pwrite(descriptor, data[written:], self._end + written)
        self._offsets.append(self._end)
        self._sizes.append(len(data))
        self._end += len(data)

    def __len__(self) -> int:
        return len(self._nodeids)

    def __bool__(self) -> bool:
        return bool(self._nodeids)

    def __iter__(self) -> Iterator[CaseRecord]:
        return iter(self.ordered())

    def ordered(self, key: Callable[[str], int] | None = None) -> SpooledRecords:
        """The records sorted by `key` of their node id (stable: arrival order among equals),
        read back from the file each time they are iterated."""
        indices = list(range(len(self._nodeids)))
        if key is not None:
            nodeids = self._nodeids
            indices.sort(key=lambda index: key(nodeids[index]))
        return SpooledRecords(self, indices)

    def read(self, index: int) -> CaseRecord:
        offset = self._offsets[index]
        if offset < 0:
            return self._held[index]
        assert self._file is not None
        size = self._sizes[index]
        data = os.pread(self._file.fileno(), size, offset)
        if len(data) != size:
            raise OSError(f"the temporary file of case records ended after {len(data)} bytes")
        record = _decode(data)
        nodeid = self._nodeids[index]
        if record.get("nodeid") == nodeid:
            record["nodeid"] = nodeid  # the string pytest holds, not a copy
        # A report keeps each case's request: the turns that open thousands of cases' requests
        # (the system prompt, few-shot turns) are then one message again, as in the dataset.
        # A request's last turn, the case's own prompt, is seldom repeated: left as it is.
        request = record.get("request")
        if type(request) is list:
            opening = self._opening_turns.setdefault
            for position, message in enumerate(request[:-1]):
                if type(message) is dict and len(message) == 2:
                    role, content = message.get("role"), message.get("content")
                    if type(role) is str and type(content) is str:
                        request[position] = opening((role, content), message)
        return record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._spilling = False
        self._opening_turns.clear()


_MSGPACK, _PICKLE = b"m", b"p"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def _encode(record: CaseRecord) -> bytes:
    """MessagePack (msgspec's decoder shares the strings of repeated keys: a record read back
    costs no more memory than the one written), or pickle for what MessagePack cannot hold
    (a lone surrogate from broken model output, an integer past 64 bits). A record holds
    lists, not tuples (`CaseRecord`); one that held a tuple gets a list back, which every
    report writes alike."""
    try:
        return _MSGPACK + _encoder.encode(record)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return _PICKLE + pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def _decode(data: bytes) -> CaseRecord:
    body = memoryview(data)[1:]
    record: CaseRecord = _decoder.decode(body) if data[:1] == _MSGPACK else pickle.loads(body)
    return record


class SpooledRecords(Collection["CaseRecord"]):
    """The records of a spool in one order: each pass reads them from the file again, so
    only the record being looked at is in memory (and what a caller keeps of it)."""

    def __init__(self, spool: RecordSpool, indices: list[int]) -> None:
        self._spool = spool
        self._indices = indices

    def __len__(self) -> int:
        return len(self._indices)

    def __iter__(self) -> Iterator[CaseRecord]:
        read = self._spool.read
        for index in self._indices:
            yield read(index)

    def __contains__(self, record: Any) -> bool:
        return any(record == mine for mine in self)
