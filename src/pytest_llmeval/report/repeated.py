"""One error, said once: identical messages of many cases gathered into one entry each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pytest_llmeval.report.model import DistinctError, ErrorEntry, Report
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


def distinct_errors(entries: Sequence[ErrorEntry], limit: int = 20) -> list[DistinctError]:
    """Each distinct error (type, message and kind) once, with its case count and its first
    case by node id; the most common first, at most `limit`."""
    by_error: dict[tuple[str | None, str | None, bool], list[str]] = {}
    for entry in entries:
        key = (entry.error_type, entry.message, entry.infrastructure)
        by_error.setdefault(key, []).append(entry.nodeid)
    found = [
        DistinctError(error_type, message, infrastructure, len(nodeids), min(nodeids))
        for (error_type, message, infrastructure), nodeids in by_error.items()
    ]
    found.sort(key=lambda error: (-error.cases, error.first))
    return found[:limit]


def distinct_error_lines(
    errors: Sequence[DistinctError], text: Callable[[str | None], str], shown: int
) -> list[str]:
    """The terminal's lines of `distinct` errors: each once, with its count and first case."""
    lines = []
    for error in errors[:shown]:
        said = ": ".join(part for part in (error.error_type, error.message) if part)
        where = (
            f"{error.cases} cases (the first: {error.first})" if error.cases > 1 else error.first
        )
        lines.append(f"  {text(where)}: {text(said)}")
    if len(errors) > shown:
        lines.append(
            f"  ... and {plural(len(errors) - shown, 'other error')} (-v lists every case)"
        )
    return lines


def tally_lines(report: Report) -> list[str]:
    """pytest's tally of the eval cases beside the gate's, so the two counts add up: pytest
    counts what raised in a test's call as failed and in its setup as an error, the gate
    counts model failures, infrastructure errors and errors of the test code."""
    tally, totals = report.run.pytest_tally, report.totals
    if not tally or not (totals.failed or totals.errors):
        return []
    errors = report.errors
    pytest_errors = plural(tally.get("errors", 0), "error")
    return [
        "",
        f"Tally: pytest's {tally.get('failed', 0)} failed and {pytest_errors}"
        f" are the gate's {plural(report.failures.count, 'model failure')},"
        f" {plural(errors.infrastructure, 'infrastructure error')} and"
        f" {plural(errors.test_errors, 'test-code error')}",
    ]
