"""Time and measure building and rendering the gate report for 100,000 case records.

Run: `.venv/bin/python benchmarks/report.py [--cases N] [--repeat R]`. The baseline report is
written by a child process first, so its making counts neither toward time nor memory. Then
every step runs R times; the table shows each step's best wall and CPU seconds (the least
disturbed run on a shared machine) and the process's peak memory, inputs included.
Target: under 2 s and under 500 MB in all.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tabulate import tabulate

from pytest_llmeval.case_record import CaseRecord
from pytest_llmeval.report.baseline import load_baseline
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.model import Report, RunInfo
from pytest_llmeval.report.render import json_text, markdown, terminal_lines
from pytest_llmeval.support.atomic import write_atomic

TIME_BUDGET_S = 2.0
MEMORY_BUDGET_MB = 500.0
GROUPS = 20
FAILURE_CATEGORIES = (
    "no_json_start",
    "unterminated_json",
    "malformed_json",
    "fenced_json",
    "trailing_text",
    "missing_field",
    "type_mismatch",
    "enum_violation",
)
MODERATION_CATEGORIES = ("sexual", "hate_and_discrimination", "violence_and_threats", "selfharm")
RUN = RunInfo(
    model="ft:open-mistral-7b:587a6b29:20240514:7e773925",
    judge_model="mistral-large-latest",
    moderation_model="mistral-moderation-latest",
    duration_s=1234.5,
    record_mode="none",
)
# The options' defaults, written out: options.py imports pytest, which would count toward the
# memory measured here.
GATE = GateSettings(format_threshold=1.0, max_errors=0, max_drop=0.05, alpha=0.05)


def synthetic_records(count: int, seed: int, pass_rate: float) -> list[CaseRecord]:
    """Case records as the plugin types them (`CaseRecord`, checked by mypy), across 20 groups.

    Dict literals, as `CaseRecorder.to_record` builds them, so they take the same memory.
    """
    chance = random.Random(seed)
    records: list[CaseRecord] = []
    for index in range(count):
        group_index = index % GROUPS
        kind = "safety" if group_index >= 17 else "judge" if group_index >= 14 else "metric"
        group = f"group_{group_index:02d}"
        roll = chance.random()
        outcome = "error" if roll > 0.998 else "passed" if roll < pass_rate else "failed"
        category = "valid"
        if outcome == "failed" and chance.random() < 0.5:
            category = chance.choice(FAILURE_CATEGORIES)
        flagged = kind == "safety" and outcome == "failed"
        message = None
        if outcome == "failed":
            message = f"{category}: reply began with 'Sure, here is the ticket' (case {index})"
        elif outcome == "error":
            message = "503 Service Unavailable from /v1/chat/completions after 4 attempts"
        record: CaseRecord = {
            "nodeid": f"tests/evals/test_{group}.py::test_{group}[case-{index // GROUPS}]",
            "group": group,
            "kind": kind,
            "outcome": outcome,
            "error_type": "LLMAPIError" if outcome == "error" else None,
            "infrastructure": outcome == "error",
            "message": message,
            "category": category,
            "finish_reason": "length" if category == "unterminated_json" else "stop",
            "format_checks": [category],
            "scores": {"exact_match": float(outcome == "passed"), "bleu": chance.random()},
            "judge_scores": [float(chance.randint(1, 5))] if kind == "judge" else [],
            "safety": {
                "flagged": flagged,
                "categories": [chance.choice(MODERATION_CATEGORIES)] if flagged else [],
            },
            "usage": {
                "calls": 1,
                "prompt_tokens": (prompt := chance.randint(20, 400)),
                "completion_tokens": (completion := chance.randint(5, 200)),
                "retries": 0,
                "latency_s": chance.random(),
                "store_hits": 1,
                "store_misses": 0,
                "by_model": {"ft:open-mistral-7b:bench": [prompt, completion]},
            },
            "threshold": 0.9 if kind != "safety" else None,
            "min_score": 3 if kind == "judge" else None,
            "max_unsafe": 50 if kind == "safety" else None,
            "duration_s": round(chance.random(), 3),  # as records round it
            "run": None,
            "case_nodeid": None,
            "human_score": None,
            "judge_checks": ["valid"] if kind == "judge" else [],
            "comparisons": 0,
            "position_bias": 0,
            "request": None,
            "input_chars": None,
            "output": None,
            "expected": None,
            "tags": None,
            "dataset": None,
            "models": [],
            "store_problem": None,
            "store_integrity": None,
        }
        records.append(record)
    return records


def write_baseline(path: Path, cases: int) -> None:
    """The report of an earlier run (seed 1, a slightly higher pass rate), as a JSON file."""
    report = build_report(synthetic_records(cases, seed=1, pass_rate=0.93), RUN, GATE)
    write_atomic(path, json_text(report))


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes there, KiB here


def measure(cases: int, repeat: int) -> tuple[list[list[str]], float, float, float]:
    folder = Path(tempfile.mkdtemp(prefix="llmeval-report-bench-"))
    baseline_path = folder / "baseline.json"
    subprocess.run(
        [sys.executable, __file__, "--cases", str(cases), "--write-baseline", str(baseline_path)],
        check=True,
    )
    records = synthetic_records(cases, seed=2, pass_rate=0.92)
    gc.collect()
    inputs_mb = peak_rss_mb()

    state: dict[str, Any] = {}

    def build() -> None:
        state["report"] = build_report(
            records,
            RUN,
            GATE,
            baseline=state["baseline"],
            baseline_source=str(baseline_path),
        )

    def write_files() -> None:
        write_atomic(folder / "report.json", state["json"])
        write_atomic(folder / "report.md", state["markdown"])

    def report() -> Report:
        built: Report = state["report"]
        return built

    steps: list[tuple[str, Callable[[], None]]] = [
        ("load baseline", lambda: state.update(baseline=load_baseline(baseline_path))),
        ("build report + gate", build),
        ("terminal lines", lambda: state.update(lines=terminal_lines(report()))),
        ("markdown", lambda: state.update(markdown=markdown(report()))),
        ("json text", lambda: state.update(json=json_text(report()))),
        ("write files (atomic)", write_files),
    ]
    best_wall = [float("inf")] * len(steps)
    best_cpu = [float("inf")] * len(steps)
    for _ in range(repeat):
        state.clear()
        gc.collect()
        for index, (_, step) in enumerate(steps):
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            best_wall[index] = min(best_wall[index], time.perf_counter() - wall)
            best_cpu[index] = min(best_cpu[index], time.process_time() - cpu)
    rows = [
        [name, f"{wall:.3f}", f"{cpu:.3f}"]
        for (name, _), wall, cpu in zip(steps, best_wall, best_cpu, strict=True)
    ]
    rows.append(["total", f"{sum(best_wall):.3f}", f"{sum(best_cpu):.3f}"])
    shutil.rmtree(folder, ignore_errors=True)
    return rows, sum(best_cpu), inputs_mb, peak_rss_mb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-baseline", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.write_baseline is not None:
        write_baseline(options.write_baseline, options.cases)
        return 0
    rows, cpu_s, inputs_mb, peak_mb = measure(options.cases, options.repeat)
    print(f"report of {options.cases} case records in {GROUPS} groups, against a baseline")
    print(
        tabulate(
            rows,
            headers=[f"step (best of {options.repeat})", "wall s", "CPU s"],
            disable_numparse=True,
        )
    )
    print(f"memory: {inputs_mb:.0f} MB for the records alone, {peak_mb:.0f} MB peak in all")
    # On a shared machine wall time includes waiting for a core; CPU time is the work done.
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs: the budget is judged on CPU time")
    met = cpu_s < TIME_BUDGET_S and peak_mb < MEMORY_BUDGET_MB
    verdict = "met" if met else "NOT met"
    print(f"budget (under {TIME_BUDGET_S:.0f} s and {MEMORY_BUDGET_MB:.0f} MB): {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
