"""What a run did not count: skipped and xfailed eval cases per group, cases a hook removed,
recordings the store refused, and live calls under CI; attached to the report, then listed.

A skip is out of every rate, never out of sight: the builder attaches each group's skipped
and xfailed cases (`attach_not_counted`), and the renderers list them with these lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pytest_llmeval.report.model import GroupSummary, Report
from pytest_llmeval.report.wording import plural

# Not-counted cases listed per kind in the terminal (-v: all of them).
TERMINAL_NOT_COUNTED_SHOWN = 5


def attach_not_counted(
    groups: list[GroupSummary], records: Iterable[Mapping[str, Any]]
) -> list[GroupSummary]:
    """`groups` with each skipped or xfailed case (`case_record.NotCountedRecord`) listed in
    its group, and a group of its own (no case counted, so no rate) for one that has no
    other case; sorted by name as the builder sorts them."""
    by_name = {group.name: group for group in groups}
    for record in records:
        nodeid = str(record.get("nodeid"))
        name = str(record.get("group") or nodeid)
        group = by_name.get(name)
        if group is None:
            kind = str(record.get("kind") or "metric")
            threshold, max_unsafe = record.get("threshold"), record.get("max_unsafe")
            group = by_name[name] = GroupSummary(
                name=name,
                kind=kind,
                cases=0,
                passed=0,
                failed=0,
                errors=0,
                pass_rate=None,
                ci_low=None,
                ci_high=None,
                threshold=None if threshold is None else float(threshold),
                max_unsafe=(int(max_unsafe or 0) if kind == "safety" else None),
                unsafe=0 if kind == "safety" else None,
            )
        if record.get("outcome") == "xfailed":
            group.xfailed_cases.append(nodeid)
        else:
            group.skipped_cases.append(nodeid)
    return [by_name[name] for name in sorted(by_name)]


def headline_parts(report: Report) -> list[str]:
    """`3 skipped`, `2 xfailed`, `4 eval cases removed by a hook`, for the headline."""
    run, totals = report.run, report.totals
    parts = [f"{totals.skipped} skipped"] if totals.skipped else []
    parts += [f"{totals.xfailed} xfailed"] if totals.xfailed else []
    if run.removed_cases:
        parts.append(f"{plural(len(run.removed_cases), 'eval case')} removed by a hook")
    return parts


def live_text(report: Report, text: Callable[[str | None], str]) -> str:
    """`; LIVE: CI run calling URL (record mode new_episodes), 3 live calls`, or ''."""
    run = report.run
    if run.live_server is None:
        return ""
    return (
        f"; LIVE: CI run calling {text(run.live_server)} (record mode {text(run.record_mode)}),"
        f" {plural(report.usage.store_misses, 'live call')}"
    )


def not_counted_lines(
    report: Report, text: Callable[[str | None], str], verbosity: int
) -> list[str]:
    """Per group with skipped or xfailed cases: the counts, then the cases (the first few
    in the terminal, all with -v)."""
    lines: list[str] = []
    for group in report.groups:
        if not (group.skipped or group.xfailed):
            continue
        counts = [(group.skipped, "skipped"), (group.xfailed, "xfailed")]
        listed = ", ".join(f"{count} {what}" for count, what in counts if count)
        lines.append(f"Not counted: group '{text(group.name)}': {listed}")
        for what, nodeids in (("skipped", group.skipped_cases), ("xfailed", group.xfailed_cases)):
            shown = nodeids if verbosity > 0 else nodeids[:TERMINAL_NOT_COUNTED_SHOWN]
            lines += [f"  {what} {text(nodeid)}" for nodeid in shown]
            if len(shown) < len(nodeids):
                lines.append(f"  ... {len(nodeids) - len(shown)} more {what} (-v lists all)")
    return lines


def condition_lines(report: Report, text: Callable[[str | None], str]) -> list[str]:
    """The recordings the store refused, and the cases a collection hook removed."""
    lines = [f"Store integrity: {text(problem)}" for problem in report.store_integrity]
    removed = report.run.removed_cases
    if removed:
        more = f" and {len(removed) - 5} more" if len(removed) > 5 else ""
        shown = ", ".join(text(nodeid) for nodeid in removed[:5])
        lines.append(f"Removed by a collection hook: {shown}{more}")
    return lines
