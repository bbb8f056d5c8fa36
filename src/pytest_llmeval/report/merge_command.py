"""`llmeval merge R1.json ... -o OUT.json`: the one verdict of a sharded run's reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from pytest_llmeval.errors import BaselineError

DESCRIPTION = (
    "Merge the JSON reports of a sharded run (pytest --llm-shard=K/N --llm-report=...) into the"
    " report of the whole run: groups, intervals and the baseline comparison computed over all"
    " cases, and one verdict. A missing, duplicated or foreign shard blocks (incomplete run)."
    " Exit status 0 when the merged gate promotes, 1 when it blocks, 2 on a usage error."
)


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `llmeval merge` with the command's subparsers (see `cli.py`)."""
    merge = commands.add_parser(
        "merge", help="merge the reports of a sharded run into one verdict", description=DESCRIPTION
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT.json", help="each shard's report")
    merge.add_argument(
        "-o", "--output", required=True, metavar="OUT.json", help="write the merged JSON report"
    )
    merge.add_argument(
        "--llm-report-md",
        "--markdown",
        dest="markdown",
        metavar="FILE",
        help="also write the merged Markdown report",
    )
    merge.add_argument(
        "--llm-baseline",
        "--baseline",
        dest="baseline",
        metavar="BASE.json",
        help="compare the union with this earlier report",
    )
    merge.set_defaults(usage_error=merge.error, run=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`llmeval merge`, its arguments parsed. Returns the exit status."""
    from pytest_llmeval.report.baseline import load_baseline
    from pytest_llmeval.report.merge import merge_reports, read_shard_report
    from pytest_llmeval.report.render import TerminalView, json_chunks, markdown, terminal_lines
    from pytest_llmeval.support.atomic import write_atomic

    stream = out if out is not None else sys.stdout
    try:
        shards = [read_shard_report(path) for path in args.reports]
        baseline = load_baseline(args.baseline) if args.baseline else None
        report = merge_reports(shards, baseline=baseline, baseline_source=args.baseline or None)
    except BaselineError as error:
        print(f"llmeval merge: {error}", file=sys.stderr)
        return 2
    try:
        write_atomic(Path(args.output), json_chunks(report))
        if args.markdown:
            write_atomic(Path(args.markdown), markdown(report))
    except OSError as error:
        print(f"llmeval merge: cannot write: {error}", file=sys.stderr)
        return 2
    for line in terminal_lines(report, TerminalView(80, 0)):
        print(line, file=stream)
    print(f"llmeval merge: {len(shards)} reports merged into {args.output}", file=stream)
    return 0 if report.gate.passed else 1
