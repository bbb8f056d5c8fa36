"""Time building the HTML report, measure its size, and open it in headless Chromium.

Run: `.venv/bin/python benchmarks/html_report.py [--repeat R] [--no-browser]`. For 1,000 and
10,000 cases (a tenth of them flipped against a baseline, 300-character outputs), and for
1,000 cases with the longest texts the JSON report keeps (4,096 characters of output and of
the user message), the report is built once; then `html_report` runs R times and the table
shows its best wall and CPU seconds, the page's size, and how long Chromium took to load it
and run its script (`--dump-dom`), with the filter status it printed.
Targets: 10,000 cases built in under 2 s; 1,000 cases under 3 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

from pytest_llmeval.case_record import CaseRecord
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.html import html_report
from pytest_llmeval.report.model import RunInfo

TIME_BUDGET_S = 2.0
SIZE_BUDGET_MB = 3.0
GATE = GateSettings(format_threshold=1.0, max_errors=0, max_drop=0.05, alpha=0.05)
WORDS = [
    "the",
    "ticket",
    "is",
    "about",
    "a",
    "billing",
    "refund",
    "login",
    "password",
    "invoice",
    "shipping",
    "delay",
    "broken",
    "account",
    "order",
    "card",
    "payment",
    "address",
    "email",
]


def records(count: int, *, flipped: bool, long_texts: bool, seed: int) -> list[CaseRecord]:
    """Case records across 10 groups; with `flipped`, every tenth case fails."""
    chance = random.Random(seed)
    out: list[CaseRecord] = []
    for index in range(count):
        failed = flipped and index % 10 == 0
        size = 4096 if long_texts else 300
        summary = " ".join(chance.choice(WORDS) for _ in range(size // 5))
        text = f'{{"intent": "{chance.choice(WORDS)}", "summary": "{summary}"}}'[:size]
        user = " ".join(chance.choice(WORDS) for _ in range(size // 5 if long_texts else 30))
        record: dict[str, Any] = {
            "nodeid": f"tests/test_g{index % 10}.py::test_case[row-{index}]",
            "group": f"g{index % 10}",
            "kind": "metric",
            "outcome": "failed" if failed else "passed",
            "error_type": None,
            "infrastructure": False,
            "message": "no JSON value in the output" if failed else None,
            "category": "no_json_start" if failed else "valid",
            "finish_reason": "stop",
            "format_checks": ["no_json_start" if failed else "valid"],
            "scores": {},
            "judge_scores": [],
            "safety": {"flagged": False, "categories": []},
            "usage": {
                "calls": 1,
                "prompt_tokens": 60,
                "completion_tokens": 80,
                "retries": 0,
                "latency_s": 0.2,
                "store_hits": 1,
                "store_misses": 0,
                "by_model": {},
            },
            "threshold": 0.8,
            "min_score": None,
            "max_unsafe": None,
            "duration_s": 0.01,
            "request": [
                {"role": "system", "content": "You triage support tickets. Answer in JSON."},
                {"role": "user", "content": user[:4096]},
            ],
            "output": {"text": text, "length": len(text)},
        }
        out.append(record)  # type: ignore[arg-type]  # the keys a report reads
    return out


def scenario(count: int, long_texts: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report dict and its baseline's, as the plugin has them when it writes the page."""
    before = records(count, flipped=False, long_texts=long_texts, seed=1)
    baseline: dict[str, Any] = json.loads(
        json.dumps(build_report(before, RunInfo(model="base"), GATE).to_dict())
    )
    now = records(count, flipped=True, long_texts=long_texts, seed=2)
    report = build_report(now, RunInfo(model="head"), GATE, baseline=baseline)
    return report.to_dict(), baseline


def best_of(
    repeat: int, report: dict[str, Any], baseline: dict[str, Any]
) -> tuple[float, float, str]:
    walls, cpus, page = [], [], ""
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        page = html_report(report, baseline=baseline)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), page


def open_in_chromium(path: Path, profile: Path) -> tuple[str, str]:
    """Seconds Chromium took to load the page and run its script, and what the script said."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return ("not installed", "")
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--dump-dom",
        path.resolve().as_uri(),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.perf_counter() - started
    marker = 'id="filter-status"'
    at = done.stdout.find(marker)
    status = done.stdout[at:].split(">", 1)[1].split("<", 1)[0] if at >= 0 else "(no status)"
    return (f"{seconds:.1f}", status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    options = parser.parse_args()
    rows = []
    met = True
    with tempfile.TemporaryDirectory(prefix="llmeval-html-") as folder:
        for count, long_texts in ((1_000, False), (10_000, False), (1_000, True)):
            report, baseline = scenario(count, long_texts)
            wall, cpu, page = best_of(options.repeat, report, baseline)
            path = Path(folder) / f"report-{count}-{int(long_texts)}.html"
            path.write_text(page, encoding="utf-8")
            size = path.stat().st_size / 1e6
            browser = (
                ("skipped", "")
                if options.no_browser
                else open_in_chromium(path, Path(folder) / f"profile-{count}-{int(long_texts)}")
            )
            flipped = sum(
                len((group.get("baseline") or {}).get("worse") or ()) for group in report["groups"]
            )
            if count == 10_000 and wall >= TIME_BUDGET_S:
                met = False
            if count == 1_000 and not long_texts and size >= SIZE_BUDGET_MB:
                met = False
            rows.append(
                [
                    f"{count:,}",
                    "4,096 chars" if long_texts else "300 chars",
                    flipped,
                    f"{wall:.2f}",
                    f"{cpu:.2f}",
                    f"{size:.2f}",
                    browser[0],
                    browser[1],
                ]
            )
    headers = [
        "cases",
        "texts",
        "flipped",
        "build wall s",
        "build CPU s",
        "size MB",
        "chromium s",
        "filter status",
    ]
    print(tabulate(rows, headers=headers, disable_numparse=True))
    print(
        f"targets: 10,000 cases built in under {TIME_BUDGET_S:g} s (best wall), 1,000 cases "
        f"(300-character texts) under {SIZE_BUDGET_MB:g} MB: {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
