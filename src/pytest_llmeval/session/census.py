"""Which eval cases a session selected, deselected and heard back from, and why some never ran."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The key of an xdist worker's census in its `workeroutput`.
WORKEROUTPUT_KEY = "llmeval_census"
# The key of an xdist worker's `--llm-batch` summary (`run.batch`) in its `workeroutput`.
BATCH_WORKEROUTPUT_KEY = "llmeval_batch"
# The key of the first check's line in an xdist worker's `workeroutput`: the model id the
# server does not serve, which ends the run as a usage error on the controller.
FIRST_CHECK_KEY = "llmeval_first_check"
# The test report attribute a case record rides on, so xdist carries it to the controller,
# which accounts the case by it.
CASE_ATTRIBUTE = "llmeval_case"
# The attribute of a skipped or xfailed eval case's report: where its group and why.
NOT_COUNTED_ATTRIBUTE = "llmeval_not_counted"


@dataclass
class EvalCensus:
    """The eval cases selected to run (node ids, collection order) and how many were deselected.

    The process that collects fills it in: the session itself without xdist, each worker
    under xdist, which publishes it (`to_message`) for the controller to read (`merge`).
    `selected` is None until some collection has been seen.
    """

    selected: list[str] | None = None
    deselected: int = 0
    # --llm-shard: the suite the shard was split from (`run.suite`, session/shard.py).
    suite: dict[str, Any] | None = None
    # The eval cases collected, before any plugin's or conftest's collection hook could drop
    # one (None: not seen); those deselected through pytest_deselected; and those that went
    # missing in between without being deselected.
    found: list[str] | None = None
    deselected_ids: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)
    found_count: int | None = None  # len(found), also where only a worker saw them

    def before_hooks(self, nodeids: Sequence[str]) -> None:
        """The eval cases collected, as the first collection hook sees them."""
        self.found = list(nodeids)
        self.found_count = len(self.found)

    def collected(self, nodeids: Sequence[str], is_eval: Sequence[bool]) -> None:
        self.selected = [nodeid for nodeid, flag in zip(nodeids, is_eval, strict=True) if flag]
        if self.found is not None:
            kept = set(self.selected) | self.deselected_ids
            self.removed = [nodeid for nodeid in self.found if nodeid not in kept]

    @property
    def collected_count(self) -> int | None:
        """Eval cases collected before any hook ran (or selected, when that was not seen)."""
        if self.found_count is not None:
            return self.found_count
        if self.selected is None:
            return None
        return len(self.selected) + self.deselected + len(self.removed)

    def to_message(self, is_eval: Sequence[bool]) -> dict[str, Any]:
        """The census as plain data for xdist: eval positions in the collection as ranges.

        Every worker collects the same items in the same order (xdist checks it), so
        positions are enough, and ranges keep 100,000 cases a few numbers long.
        """
        return {
            "ranges": position_ranges(is_eval),
            "deselected": self.deselected,
            "suite": self.suite,
            "found": self.found_count,
            "removed": list(self.removed),
        }

    def merge(self, message: object, collection: Sequence[str]) -> None:
        """Take a worker's census (the first that arrives; they are all the same)."""
        if self.selected is not None or not isinstance(message, dict):
            return
        ranges = message.get("ranges")
        if not isinstance(ranges, list):
            return
        selected: list[str] = []
        for start, stop in ranges:
            selected.extend(collection[start:stop])
        self.selected = selected
        deselected = message.get("deselected")
        self.deselected = deselected if isinstance(deselected, int) else 0
        suite = message.get("suite")
        self.suite = suite if isinstance(suite, dict) else None
        removed = message.get("removed")
        self.removed = [str(nodeid) for nodeid in removed] if isinstance(removed, list) else []
        found = message.get("found")
        self.found_count = found if isinstance(found, int) else None

    def not_run(self, accounted: Iterable[str] | set[str]) -> int:
        """How many selected eval cases never reported an outcome or a skip."""
        if not self.selected:
            return 0
        seen = accounted if isinstance(accounted, set) else set(accounted)
        return sum(1 for nodeid in self.selected if nodeid not in seen)


def position_ranges(flags: Sequence[bool]) -> list[list[int]]:
    """`[start, stop)` ranges of the positions where `flags` is true."""
    ranges: list[list[int]] = []
    start: int | None = None
    for position, flag in enumerate(flags):
        if flag and start is None:
            start = position
        elif not flag and start is not None:
            ranges.append([start, position])
            start = None
    if start is not None:
        ranges.append([start, len(flags)])
    return ranges


@dataclass
class StopEvidence:
    """What the session said about stopping early, gathered as it happens."""

    maxfail: int = 0
    should_fail: str | None = None  # session.shouldfail, e.g. "stopping after 1 failures"
    should_stop: str | None = None  # session.shouldstop, e.g. from --stepwise
    interrupt: str | None = None  # the interrupting exception's message, "" when it had none
    exit_message: str | None = None  # pytest.exit(msg)
    crashed_workers: list[str] = field(default_factory=list)  # "gw0: Not properly terminated"

    def reason(self) -> str:
        """Why eval cases did not run, in the words of the gate's reason."""
        failures = self.should_fail or (
            self.interrupt if (self.interrupt or "").startswith("stopping after") else None
        )
        if failures and self.maxfail:
            if self.maxfail == 1:
                return "stopped after the first failure, -x"
            return f"stopped after {self.maxfail} failures, --maxfail={self.maxfail}"
        if self.crashed_workers:
            return "xdist worker crashed: " + "; ".join(self.crashed_workers)
        if self.exit_message is not None:
            return f"pytest.exit(): {self.exit_message}" if self.exit_message else "pytest.exit()"
        if self.interrupt is not None:
            return f"interrupted: {self.interrupt}" if self.interrupt else "interrupted"
        if self.should_stop:
            return f"stopped: {self.should_stop}"
        if self.should_fail:
            return f"stopped: {self.should_fail}"
        return "the session ended before they ran"


def stop_text(value: object) -> str | None:
    """`session.shouldfail` / `shouldstop` (False, True or a message) as a message or None."""
    if not value:
        return None
    return value if isinstance(value, str) else "stopped early"


def skip_reason(report: Any) -> str | None:
    """The reason given to pytest.skip(), from a skipped report's (path, line, "Skipped: ...")."""
    longrepr = report.longrepr
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None
