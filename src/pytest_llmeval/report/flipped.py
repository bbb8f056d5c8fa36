"""The cases that flipped against the baseline, per group, as terminal or Markdown lines."""

from __future__ import annotations

from pytest_llmeval.report.escape import markdown_code, markdown_text, plain
from pytest_llmeval.report.model import Report
from pytest_llmeval.report.wording import plural

# Flipped cases listed per group and direction (-v in the terminal: all of them).
FLIPPED_SHOWN = 5


def flipped_lines(
    report: Report, *, shown: int | None, more: str, markdown: bool = False
) -> list[str]:
    """Per group compared with the baseline, the cases that flipped: the worse ones, then the
    better ones, the first `shown` of each (None: all), then how many more (`more` says where
    the rest are). Terminal lines, or with `markdown` a paragraph and a list per group."""
    name, case, bullet = (markdown_text, markdown_code, "- ") if markdown else (plain, plain, "  ")
    lines: list[str] = []
    for group in report.groups:
        comparison = group.baseline
        if comparison is None or not (comparison.worse or comparison.better):
            continue
        lines += [
            "",
            f"{name(group.name)}: {plural(len(comparison.worse), 'case')} worse than the "
            f"baseline, {len(comparison.better)} better:",
        ]
        if markdown:
            lines.append("")
        for direction, nodeids in (("worse", comparison.worse), ("better", comparison.better)):
            listed = nodeids if shown is None else nodeids[:shown]
            lines += [f"{bullet}{direction}: {case(nodeid)}" for nodeid in listed]
            if len(listed) < len(nodeids):
                lines.append(
                    f"{bullet}... and {len(nodeids) - len(listed)} more {direction} {more}"
                )
    return lines
