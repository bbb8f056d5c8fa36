"""The live progress line, seen through a real terminal (a pty): drawn while cases run,
gone under -q."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from pytest_llmeval.simulator import Simulator
from tests.conftest import simulator_args

SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("intents")
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_intent(case, llm_reply):
    assert llm_reply.text
"""


def run_in_a_terminal(pytester: pytest.Pytester, *args: str) -> tuple[int, str]:
    """Runs pytest with a pty as its terminal; returns its status and all it wrote."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=pytester.path,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other end closed when pytest exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> None:
    rows = "".join(json.dumps({"id": f"t{n}", "input": f"ticket {n}"}) + "\n" for n in range(6))
    (pytester.path / "tickets.jsonl").write_text(rows, encoding="utf-8")
    pytester.makepyfile(test_intents=SUITE)


@pytest.mark.usefixtures("suite")
def test_the_progress_line_shows_calls_tokens_cost_and_eta_on_a_terminal(
    pytester: pytest.Pytester,
) -> None:
    with Simulator(latency_s=0.05) as simulator:
        status, output = run_in_a_terminal(
            pytester, *simulator_args(simulator), "--llm-concurrency=2"
        )
    assert status == 0, output
    assert "\x1b7 llmeval: 1/6 cases, " in output  # drawn right of the dots, cursor kept
    assert " calls in flight, " in output and " tokens, est. $" in output
    assert "ETA " in output
    assert "\x1b[K" in output  # and erased before pytest writes on
    summary = output.rsplit("llmeval gate report", 1)[1]
    assert "in flight" not in summary  # gone once the run is over


@pytest.mark.usefixtures("suite")
def test_there_is_no_progress_line_under_q(pytester: pytest.Pytester) -> None:
    with Simulator() as simulator:
        status, output = run_in_a_terminal(pytester, *simulator_args(simulator), "-q")
    assert status == 0, output
    assert "in flight" not in output
