"""One error, said once: identical messages of many cases gathered into one entry each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_llmeval.report.wording import plural


@dataclass(frozen=True)
class RepeatedMessage:
    """A message and the cases (node ids, in order of arrival) that all said it."""

    message: str
    nodeids: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.nodeids)

    @property
    def first(self) -> str:
        return self.nodeids[0]

    def line(self, noun: str = "case") -> str:
        """`nodeid: message` for one case; `message (N cases, the first: nodeid)` for more."""
        if self.count == 1:
            return f"{self.first}: {self.message}"
        return f"{self.message} ({plural(self.count, noun)}, the first: {self.first})"


def gather(pairs: Iterable[tuple[str, str]]) -> list[RepeatedMessage]:
    """`(nodeid, message)` pairs as one `RepeatedMessage` per distinct message, in the order
    each message first came."""
    by_message: dict[str, list[str]] = {}
    for nodeid, message in pairs:
        by_message.setdefault(message, []).append(nodeid)
    return [RepeatedMessage(message, tuple(nodeids)) for message, nodeids in by_message.items()]
