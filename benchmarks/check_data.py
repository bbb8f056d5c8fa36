"""`llmeval check-data` on a generated 200 MB training file: speed and peak memory.

Run: `.venv/bin/python benchmarks/check_data.py [--mb 200] [--eval-rows 1000] [--repeat 3]`.

It writes a training file of about `--mb` MB of fine-tuning rows (a system prompt, a ticket
of 40 to 120 words, a JSON reply; one row in ten calls a tool), with 1% exact and 1%
normalized duplicates planted, a quarter-size file made the same way, and an eval file of
`--eval-rows` prompts of which 5% are copied from training and 5% are near-copies. Each
command below is a process of its own, timed with its CPU time and peak RSS (`ru_maxrss` from
`os.wait4`, so only that process counts):

- reference: a bare loop of `json.loads` over the lines of the same file, in a fresh
  interpreter: what reading the file costs at all;
- check-data on the quarter-size file, then on the full file, then on the full file with
  `--eval`.

Targets: the checker's peak RSS on the full file at most 1.25 x its peak on the quarter-size
file (memory does not grow with the file), and at most 150 MB. The script also checks that
the findings are exactly the planted duplicates and contaminated prompts.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from throughput import clean_env, in_work_folder

RSS_GROWTH_LIMIT = 1.25
RSS_LIMIT_MB = 150.0
REFERENCE = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"
SYSTEM_PROMPTS = (
    "You triage support tickets. Answer with JSON only: category and priority.",
    "You are the billing assistant of Acme. Reply in one short paragraph.",
    "Classify the ticket. Categories: billing, bug, account, feature_request, other.",
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order by its number",
            "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}},
        },
    }
]


@dataclass
class Planted:
    exact: int = 0
    normalized: int = 0
    contaminated: int = 0


class Rows:
    """Random, realistic fine-tuning rows from a fixed seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "di", "go"]
        self.words = sorted(
            {"".join(self.rng.choices(syllables, k=self.rng.randint(2, 4))) for _ in range(6000)}
        )

    def prompt(self) -> str:
        words = self.rng.choices(self.words, k=self.rng.randint(40, 120))
        return " ".join(words).capitalize() + "?"

    def row(self, prompt: str) -> dict[str, Any]:
        reply = json.dumps({"category": self.rng.choice(("billing", "bug")), "priority": 3})
        system = {"role": "system", "content": self.rng.choice(SYSTEM_PROMPTS)}
        user = {"role": "user", "content": prompt}
        if self.rng.random() < 0.1:
            call_id = "".join(self.rng.choices("abcdefghij0123456789", k=9))
            arguments = json.dumps({"id": self.rng.randint(1, 99999)})
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": "lookup_order", "arguments": arguments},
            }
            messages = [
                system,
                user,
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call_id, "content": '{"status": "sent"}'},
                {"role": "assistant", "content": reply},
            ]
            return {"messages": messages, "tools": TOOLS}
        return {"messages": [system, user, {"role": "assistant", "content": reply}]}


def write_train(path: Path, megabytes: float, rows: Rows) -> tuple[Planted, list[str]]:
    """About `megabytes` MB of rows; 1% exact, 1% normalized duplicates. Returns the prompts
    kept for the eval file (one in 200)."""
    planted = Planted()
    kept: list[str] = []
    recent: deque[tuple[str, dict[str, Any]]] = deque(maxlen=1000)  # rows to repeat
    respelled: set[str] = set()  # rows already repeated with another spelling
    written = 0
    with path.open("w", encoding="utf-8") as stream:
        while written < megabytes * 1_000_000:
            roll = rows.rng.random()
            if recent and roll < 0.01:
                line = rows.rng.choice(recent)[0]
                planted.exact += 1
            elif recent and roll < 0.02 and (pick := rows.rng.choice(recent))[0] not in respelled:
                respelled.add(pick[0])
                row = copy.deepcopy(pick[1])
                user = row["messages"][1]
                user["content"] = "  " + user["content"].upper().replace(" ", "  ") + " !"
                line = json.dumps(row)
                planted.normalized += 1
            else:
                prompt = rows.prompt()
                row = rows.row(prompt)
                line = json.dumps(row)
                recent.append((line, row))
                if rows.rng.random() < 0.005:
                    kept.append(prompt)
            stream.write(line + "\n")
            written += len(line) + 1
    return planted, kept


def write_eval(path: Path, count: int, train_prompts: list[str], rows: Rows) -> int:
    """`count` eval rows, 5% copied from training and 5% near-copies; returns the two counts."""
    contaminated = 0
    with path.open("w", encoding="utf-8") as stream:
        for index in range(count):
            if index % 20 == 0 and train_prompts:
                prompt = train_prompts[index % len(train_prompts)].lower()
                contaminated += 1
            elif index % 20 == 1 and train_prompts:
                words = train_prompts[(index * 7) % len(train_prompts)].split()
                words[len(words) // 2] = "changed"
                prompt = " ".join(words)
                contaminated += 1
            else:
                prompt = rows.prompt()
            stream.write(json.dumps(rows.row(prompt)) + "\n")
    return contaminated


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    status: int


def run_measured(command: list[str], output: Path) -> Run:
    """Runs `command` to completion, stdout to `output`; its own rusage, via `os.wait4`."""
    with output.open("wb") as stream:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.PIPE, env=clean_env())
        _, raw_status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(raw_status)
    if process.stderr is not None:
        process.stderr.close()
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode)


def best_of(repeat: int, command: list[str], output: Path) -> tuple[Run, list[Run]]:
    runs = [run_measured(command, output) for _ in range(repeat)]
    return min(runs, key=lambda run: run.wall_s), runs


def check_findings(output: Path, planted: Planted, contaminated: int | None) -> str:
    report = json.loads(output.read_text(encoding="utf-8"))
    rules: dict[str, int] = {}
    for finding in report["findings"]:
        rules[finding["rule"]] = rules.get(finding["rule"], 0) + 1
    got = (rules.get("duplicate-exact", 0), rules.get("duplicate-normalized", 0))
    found = rules.get("contamination-exact", 0) + rules.get("contamination-ngram", 0)
    others = {rule: n for rule, n in rules.items() if not rule.startswith(("dup", "contam"))}
    wanted_contaminated = contaminated if contaminated is not None else 0
    if got != (planted.exact, planted.normalized) or found != wanted_contaminated or others:
        raise RuntimeError(
            f"findings {rules} do not match the planted {planted} and {contaminated} contaminated"
        )
    return f"{got[0]:,} exact + {got[1]:,} normalized duplicates, {found} contaminated"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="size of the training file (200)")
    parser.add_argument("--eval-rows", type=int, default=1000, help="rows of the eval file (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each command (3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    return in_work_folder("llmeval-check-data-", parser.parse_args(), measure)


def measure(options: argparse.Namespace, work: Path) -> int:
    print(f"work folder: {work}", flush=True)
    rows = Rows(seed=20240514)
    small, full, evals = work / "small.jsonl", work / "train.jsonl", work / "eval.jsonl"
    small_planted, _ = write_train(small, options.mb / 4, Rows(seed=7))
    planted, kept = write_train(full, options.mb, rows)
    contaminated = write_eval(evals, options.eval_rows, kept, rows)
    line_count = sum(1 for _ in full.open("rb"))
    size_mb = full.stat().st_size / 1_000_000
    small_mb = small.stat().st_size / 1_000_000
    small_lines = sum(1 for _ in small.open("rb"))

    checker = [sys.executable, "-m", "pytest_llmeval", "check-data", "--format=json"]
    out = work / "out.json"
    table = []

    def row(label: str, lines: int, mb: float, run: Run, runs: list[Run], ref: Run) -> None:
        walls = [r.wall_s for r in runs]
        table.append(
            [
                label,
                f"{mb:.0f}",
                f"{lines:,}",
                f"{run.wall_s:.2f}",
                f"{statistics.median(walls):.2f}",
                f"{run.cpu_s:.2f}",
                f"{lines / run.wall_s:,.0f}",
                f"{mb / run.wall_s:.1f}",
                f"{run.max_rss_mb:.1f}",
                f"{run.wall_s / ref.wall_s:.2f}",
                f"{run.cpu_s / ref.cpu_s:.2f}",
            ]
        )

    reference, reference_runs = best_of(
        options.repeat, [sys.executable, "-c", REFERENCE, str(full)], out
    )
    row("reference: json.loads loop", line_count, size_mb, reference, reference_runs, reference)
    small_run, small_runs = best_of(options.repeat, [*checker, str(small)], out)
    small_found = check_findings(out, small_planted, None)
    row("check-data, quarter file", small_lines, small_mb, small_run, small_runs, reference)
    full_run, full_runs = best_of(options.repeat, [*checker, str(full)], out)
    full_found = check_findings(out, planted, None)
    row("check-data", line_count, size_mb, full_run, full_runs, reference)
    eval_command = [*checker, str(full), "--eval", str(evals)]
    eval_run, eval_runs = best_of(options.repeat, eval_command, out)
    eval_found = check_findings(out, planted, contaminated)
    row(
        f"check-data --eval ({options.eval_rows:,} rows)",
        line_count,
        size_mb,
        eval_run,
        eval_runs,
        reference,
    )

    headers = [
        "run",
        "MB",
        "rows",
        "wall s (best)",
        "median",
        "CPU s",
        "rows/s",
        "MB/s",
        "peak RSS MB",
        "x reference",
        "CPU x ref",
    ]
    print(tabulate(table, headers=headers))
    print(f"quarter file: {small_found}; full: {full_found}; with --eval: {eval_found}")
    growth = full_run.max_rss_mb / small_run.max_rss_mb
    peak = max(full_run.max_rss_mb, eval_run.max_rss_mb)
    met = growth <= RSS_GROWTH_LIMIT and peak <= RSS_LIMIT_MB
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"target: peak RSS at {size_mb:.0f} MB within {RSS_GROWTH_LIMIT} x of at "
        f"{small_mb:.0f} MB ({growth:.2f} x) and at most {RSS_LIMIT_MB:.0f} MB "
        f"({peak:.1f} MB): {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
