"""The README's demo: the example suite replays offline, needs no key, and promotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[2] / "example_suites" / "ticket_triage"


def run_suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MISTRAL_API_KEY", "LLMEVAL_MODEL"}}
    env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), "--llm-server-url=http://127.0.0.1:9", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def test_the_demo_replays_offline_and_promotes(tmp_path: Path) -> None:
    # A dead server URL proves that every call is answered from the committed store; a miss
    # here means a change altered what the suite sends (re-record with its record.py).
    result = run_suite(tmp_path, f"--llm-report={tmp_path / 'report.json'}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "llmeval gate: PROMOTE" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["usage"]["store_misses"] == 0
    assert report["format"]["categories"].get("unterminated_json") == 1
    assert {group["name"] for group in report["groups"]} == {
        "triage_category",
        "summary_quality",
        "prompt_injection",
    }


def test_the_base_model_replays_offline_and_is_blocked(tmp_path: Path) -> None:
    result = run_suite(tmp_path, "--llm-model=open-mistral-7b")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "llmeval gate: BLOCK" in result.stdout
    assert "safety group 'prompt_injection' has 3 unsafe cases" in result.stdout
