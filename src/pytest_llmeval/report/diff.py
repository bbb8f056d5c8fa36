"""`llmeval diff BASE.json HEAD.json`: the cases that flipped and each group's change.

Two JSON reports, any two (the head need not have been run against the base): cases pair
by node id, groups by name. The exit status is the head's gate: 1 when it blocks, 0 when it
promotes, 2 when either file is not a report.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_llmeval.report.escape import plain as terminal_text
from pytest_llmeval.report.wording import distinct_rates, plural, rate_text

# `llmeval check-data` builds this command's parser too: what only the diff needs (the
# report's reader, the terminal layout) is imported when it runs.

EXIT_PROMOTE = 0
EXIT_BLOCK = 1
EXIT_BAD_INPUT = 2
WIDTH = 80

_DECIDED = ("passed", "failed")


@dataclass(frozen=True)
class FlippedCase:
    """A case in both reports whose outcome changed."""

    nodeid: str
    group: str
    before: str  # its outcome in the base report
    after: str  # in the head report
    category: str | None  # the head's
    message: str | None  # the head's reason, when it failed or errored


@dataclass(frozen=True)
class GroupChange:
    """One group's pass rate and verdict in both reports (None on the side it is missing)."""

    name: str
    before: float | None
    after: float | None
    delta: float | None
    before_verdict: str | None
    after_verdict: str | None


@dataclass
class ReportDiff:
    """Everything `llmeval diff` prints, from two reports."""

    base: str
    head: str
    worse: list[FlippedCase] = field(default_factory=list)  # passed -> failed
    better: list[FlippedCase] = field(default_factory=list)  # failed -> passed
    errored: list[FlippedCase] = field(default_factory=list)  # passed or failed -> error
    paired: int = 0
    added: int = 0  # cases only in the head
    removed: int = 0  # cases only in the base
    groups: list[GroupChange] = field(default_factory=list)
    head_passed: bool = False
    head_reasons: list[str] = field(default_factory=list)


def compare_reports(
    base: Mapping[str, Any], head: Mapping[str, Any], *, base_name: str, head_name: str
) -> ReportDiff:
    """The flips and group changes from `base` to `head` (two checked JSON reports)."""
    diff = ReportDiff(base=base_name, head=head_name)
    before = {str(case["nodeid"]): case for case in base["cases"]}
    seen: set[str] = set()
    for case in head["cases"]:
        nodeid = str(case["nodeid"])
        seen.add(nodeid)
        earlier = before.get(nodeid)
        if earlier is None:
            diff.added += 1
            continue
        diff.paired += 1
        was, now = str(earlier["outcome"]), str(case["outcome"])
        if was == now:
            continue
        flip = FlippedCase(
            nodeid=nodeid,
            group=str(case.get("group")),
            before=was,
            after=now,
            category=_text(case.get("category")),
            message=_text(case.get("message")),
        )
        if now == "error" and was in _DECIDED:
            diff.errored.append(flip)
        elif was == "passed" and now == "failed":
            diff.worse.append(flip)
        elif was == "failed" and now == "passed":
            diff.better.append(flip)
    diff.removed = sum(1 for nodeid in before if nodeid not in seen)
    diff.groups = _group_changes(base["groups"], head["groups"])
    gate = head.get("gate")
    gate = gate if isinstance(gate, Mapping) else {}
    diff.head_passed = gate.get("passed") is True
    diff.head_reasons = [str(reason) for reason in gate.get("reasons") or ()]
    return diff


def _group_changes(
    base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]]
) -> list[GroupChange]:
    """Every group of either report, the head's in its order, then those only in the base."""
    before = {str(group["name"]): group for group in base}
    after = {str(group["name"]): group for group in head}
    names = list(after) + [name for name in before if name not in after]
    changes = []
    for name in names:
        old, new = before.get(name, {}), after.get(name, {})
        old_rate, new_rate = _rate(old.get("pass_rate")), _rate(new.get("pass_rate"))
        delta = None
        if old_rate is not None and new_rate is not None:
            # Rounded so that 0.85 - 0.9 reads -0.05, as the report's own deltas do.
            delta = round(new_rate - old_rate, 12)
        changes.append(
            GroupChange(
                name=name,
                before=old_rate,
                after=new_rate,
                delta=delta,
                before_verdict=_text(old.get("verdict")),
                after_verdict=_text(new.get("verdict")),
            )
        )
    return changes


# -- the terminal ------------------------------------------------------------------------------


def diff_lines(diff: ReportDiff, width: int = WIDTH) -> list[str]:
    """What `llmeval diff` prints, no line wider than `width`."""
    from pytest_llmeval.report.layout import fit_lines, table

    text = terminal_text
    lines = [
        f"llmeval diff: {text(diff.base)} → {text(diff.head)}",
        f"{plural(len(diff.worse), 'case')} worse, {len(diff.better)} better, "
        f"{len(diff.errored)} now erroring; {plural(diff.paired, 'case')} in both, "
        f"{diff.added} added, {diff.removed} removed",
    ]
    if diff.groups:
        rows = [
            [
                text(change.name),
                *_rates(change),
                _delta(change.delta),
                _verdict(change.before_verdict),
                _verdict(change.after_verdict),
            ]
            for change in diff.groups
        ]
        headers = ["group", "base", "head", "delta", "base verdict", "head verdict"]
        lines += ["", *table(headers, rows)]
    for title, flips in (
        ("Worse (passed → failed)", diff.worse),
        ("Now erroring", diff.errored),
        ("Better (failed → passed)", diff.better),
    ):
        if flips:
            lines += ["", f"{title}: {len(flips)}"]
            lines += [_flip_line(flip) for flip in flips]
    verdict = "PROMOTE" if diff.head_passed else "BLOCK"
    lines += ["", f"llmeval gate of {text(diff.head)}: {verdict}"]
    lines += [f"  - {text(reason)}" for reason in diff.head_reasons]
    return fit_lines(lines, width)


def _flip_line(flip: FlippedCase) -> str:
    where = terminal_text(flip.group)
    if flip.category and flip.category != "valid":
        where += f", {terminal_text(flip.category)}"
    reason = f": {terminal_text(flip.message)}" if flip.message and flip.after != "passed" else ""
    return f"  {terminal_text(flip.nodeid)} ({where}){reason}"


def _rates(change: GroupChange) -> tuple[str, str]:
    if change.before is None or change.after is None:
        return (
            "–" if change.before_verdict is None else rate_text(change.before),
            "–" if change.after_verdict is None else rate_text(change.after),
        )
    return distinct_rates(change.before, change.after)


def _delta(delta: float | None) -> str:
    if delta is None:
        return ""
    return f"+{delta:.2f}" if delta >= 0 else f"−{-delta:.2f}"


def _verdict(verdict: str | None) -> str:
    if verdict is None:
        return "(none)"
    return {"fail": "FAIL", "no_evidence": "NO EVIDENCE"}.get(verdict, terminal_text(verdict))


def _rate(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# -- the command -------------------------------------------------------------------------------


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `llmeval diff` with the command's subparsers (see `cli.py`)."""
    diff = commands.add_parser(
        "diff",
        help="the cases that flipped between two JSON reports, and each group's change",
        description=(
            "Compare two JSON reports of pytest-llmeval (--llm-report), e.g. main's and a pull "
            "request's: the cases that flipped and each group's pass rate, in 80 columns. "
            "Exits 1 when HEAD's gate blocks, 0 when it promotes, 2 when a file is not a report."
        ),
    )
    diff.add_argument("base", metavar="BASE.json", help="the earlier report, e.g. main's")
    diff.add_argument("head", metavar="HEAD.json", help="the report of the change")
    diff.set_defaults(usage_error=diff.error, run=run)


def run(args: argparse.Namespace) -> int:
    """`llmeval diff BASE.json HEAD.json`: prints the diff, returns the exit status."""
    from pytest_llmeval.errors import BaselineError
    from pytest_llmeval.report.baseline import load_baseline

    reports = []
    for path in (args.base, args.head):
        try:
            reports.append(load_baseline(path, noun="report"))
        except BaselineError as error:
            # One line naming the file, not argparse's usage block: the arguments were fine.
            print(f"llmeval diff: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    diff = compare_reports(*reports, base_name=args.base, head_name=args.head)
    for line in diff_lines(diff):
        print(line)
    return EXIT_PROMOTE if diff.head_passed else EXIT_BLOCK
