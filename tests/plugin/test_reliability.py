"""Reliability: fault storms, a dead server, killed recordings, secrets, replay misses, samples.

Every test runs a small dataset suite in an inner pytest session (pytester) against the bundled
simulator, through the real `mistralai` SDK and real HTTP on 127.0.0.1: nothing in the SDK or
the transports is patched. Waits are bounded everywhere, so no test can hang.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpcore2  # noqa: F401  # see the note below
import pytest

from pytest_llmeval.replay import ReplayStore, StoreRequest
from pytest_llmeval.simulator import SimRequest, Simulator
from tests.conftest import CANARY_KEY, FT_MODEL, answer_tickets, simulator_args

# httpx2 imports httpcore2 lazily, on the first transport, and keeps a process-wide map from
# httpcore2's exceptions to its own. pytester's in-process runs drop the modules a run imported,
# so without this import a later inner run gets a new httpcore2 whose timeouts and connection
# errors the stale map no longer translates: they would escape the retry transport.

SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("answers", threshold=1.0)
@pytest.mark.llm_prompt(system="Answer tickets.", temperature={temperature}, max_tokens=50)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_answer(case, llm_reply):
    assert llm_reply.text == case.expected
"""

CHAT = "/v1/chat/completions"


def write_dataset(path: Path, rows: int) -> None:
    lines = [
        json.dumps(
            {
                "id": f"t{n:03d}",
                "messages": [
                    {"role": "user", "content": f"ticket {n}"},
                    {"role": "assistant", "content": f"answer {n}"},
                ],
            }
        )
        for n in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_suite(pytester: pytest.Pytester, rows: int, temperature: float = 0.0) -> None:
    write_dataset(pytester.path / "tickets.jsonl", rows)
    pytester.makepyfile(test_suite=SUITE.format(temperature=temperature))


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def offline_args(url: str) -> list[str]:
    """Like `simulator_args`, for a server URL that is not a running simulator."""
    return [
        f"--llm-model={FT_MODEL}",
        f"--llm-server-url={url}",
        "--llm-store=store",
        "--strict-markers",
        "-p",
        "no:cacheprovider",
    ]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An in-process inner run whose every model call gives up within 20 s, so none can hang."""
    return pytester.runpytest("--llm-timeout=10", "--llm-max-retry-time=20", *args)


def read_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def recordings(store: Path) -> list[Path]:
    """The chat completions recorded in `store` (model cards are recorded there too)."""
    chats = store / "v1-chat-completions"
    return sorted(chats.rglob("*.json")) if chats.exists() else []


def outcomes(report: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    return sorted(
        (case["nodeid"], case["outcome"], case["category"], case["finish_reason"])
        for case in report["cases"]
    )


# -- retries ----------------------------------------------------------------------------------


def test_a_fault_storm_loses_nothing_and_counts_every_retry(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    rows = 200
    answering.set_faults(rates={"429": 0.3, "500": 0.1, "hang": 0.05}, retry_after=1, hang_s=3)
    make_suite(pytester, rows)
    # In a subprocess, as in real use: the client does not share a GIL with the server. The
    # timeout stays above the stalls of the client's event loop on a busy 2-core machine (the
    # SDK builds the prefetched requests on it, up to 64 at once): a connect timed out by such
    # a stall is a retry the server never sees, and the count below would be off by it.
    result = pytester.runpytest_subprocess(
        *simulator_args(answering),
        "--llm-concurrency=16",
        "--llm-timeout=2",
        "--llm-report=report.json",
        timeout=180,  # the bound on the whole storm; how long it took is the benchmarks' business
    )

    result.assert_outcomes(passed=rows)
    assert result.ret == pytest.ExitCode.OK
    report = read_report(pytester.path / "report.json")
    assert report["gate"]["passed"] is True, report["gate"]["reasons"]
    assert len(report["cases"]) == rows
    assert {case["outcome"] for case in report["cases"]} == {"passed"}
    assert report["totals"] == {
        "cases": rows,
        "passed": rows,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "xfailed": 0,
    }
    assert report["errors"]["count"] == 0
    # The storm really happened, and every extra request the server saw is a counted retry.
    sent = answering.count(CHAT)
    assert sent - rows > rows // 4, f"only {sent - rows} faults for {rows} cases"
    assert report["usage"]["retries"] > 0
    assert report["usage"]["retries"] == sent - rows
    assert report["usage"]["calls"] == rows
    assert len(recordings(pytester.path / "store")) == rows


def test_a_server_that_is_down_is_an_infrastructure_error_not_a_model_failure(
    pytester: pytest.Pytester,
) -> None:
    rows = 4
    make_suite(pytester, rows)
    started = time.monotonic()
    result = run(
        pytester,
        *offline_args(closed_port_url()),
        "--llm-max-retry-time=2",
        "--llm-report=report.json",
    )
    elapsed = time.monotonic() - started

    assert result.ret == 1
    assert elapsed < 30, f"giving up on a dead server took {elapsed:.1f}s"
    report = read_report(pytester.path / "report.json")
    assert [case["outcome"] for case in report["cases"]] == ["error"] * rows
    # A few refused connections open the circuit: the other calls fail at once, unsent.
    assert {case["error_type"] for case in report["cases"]} <= {"LLMAPIError", "EndpointDownError"}
    assert any(case["error_type"] == "EndpointDownError" for case in report["cases"])
    assert report["totals"]["failed"] == 0
    assert report["groups"][0]["failed"] == 0 and report["groups"][0]["errors"] == rows
    assert report["errors"]["infrastructure"] == rows
    assert report["gate"]["passed"] is False
    reasons = " ".join(report["gate"]["reasons"])
    assert f"{rows} infrastructure errors" in reasons and "--llm-max-errors 0" in reasons
    assert "connection error" in reasons
    result.stdout.fnmatch_lines(["*llmeval gate report*", "*infrastructure error*"])


# -- recording ----------------------------------------------------------------------------------


def test_a_killed_recording_leaves_whole_files_and_the_next_run_sends_only_the_rest(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    rows = 30
    make_suite(pytester, rows)
    store = pytester.path / "store"
    answering.set_faults(latency_s=0.4)
    log_path = pytester.path.parent / f"{pytester.path.name}-inner.log"
    with log_path.open("wb") as log:
        proc = pytester.popen(
            [sys.executable, "-m", "pytest", *simulator_args(answering), "--llm-concurrency=2"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=pytester.path,
        )
        try:
            deadline = time.monotonic() + 60
            while len(recordings(store)) < 4 and proc.poll() is None:
                assert time.monotonic() < deadline, "no recordings after 60s"
                time.sleep(0.02)
            assert proc.poll() is None, log_path.read_text(errors="replace")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    recorded = recordings(store)
    assert 0 < len(recorded) < rows
    reader = ReplayStore(store)
    for file in recorded:
        document = json.loads(file.read_text(encoding="utf-8"))  # whole, valid JSON
        request = StoreRequest(
            document["request"]["method"], document["request"]["path"], document["request"]["body"]
        )
        assert reader.file_for(request, document["sample"]) == file
        assert reader.load(request, document["sample"]) is not None, file
    # A write cut short leaves at most a hidden temporary file, never a `.json` recording.
    others = [path for path in store.rglob("*") if path.is_file() and path.suffix != ".json"]
    assert all(path.name.startswith(".") and path.name.endswith(".tmp") for path in others)

    answering.set_faults(latency_s=None)
    answering.reset_counts()
    result = run(pytester, *simulator_args(answering))
    result.assert_outcomes(passed=rows)
    assert result.ret == pytest.ExitCode.OK
    assert answering.count(CHAT) == rows - len(recorded)
    assert len(recordings(store)) == rows


REFRESH_SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_answer(case, llm_reply):
    assert llm_reply.text.startswith(case.expected + " (model v")
"""


def test_record_mode_all_calls_again_and_overwrites_while_a_full_store_sends_nothing(
    pytester: pytest.Pytester,
) -> None:
    rows = 5
    write_dataset(pytester.path / "tickets.jsonl", rows)
    pytester.makepyfile(test_suite=REFRESH_SUITE)
    store = pytester.path / "store"
    version = {"now": 1}  # the model is retrained between the second and the third run

    def model(request: SimRequest) -> str | None:
        answer = answer_tickets(request)
        return f"{answer} (model v{version['now']})" if answer else None

    def recorded_replies() -> dict[Path, str]:
        replies = {}
        for file in recordings(store):
            body = json.loads(file.read_text(encoding="utf-8"))["response"]["body"]
            replies[file] = body["choices"][0]["message"]["content"]
        return replies

    with Simulator(model) as server:
        args = simulator_args(server)
        run(pytester, *args).assert_outcomes(passed=rows)
        assert server.count(CHAT) == rows
        first = recorded_replies()
        assert sorted(first.values()) == [f"answer {n} (model v1)" for n in range(rows)]

        server.reset_counts()
        result = run(pytester, *args, "--llm-report=replayed.json")  # new_episodes
        result.assert_outcomes(passed=rows)
        assert server.count() == 0
        assert read_report(pytester.path / "replayed.json")["usage"]["store_hits"] == rows

        version["now"] = 2
        server.reset_counts()
        result = run(pytester, *args, "--llm-record-mode=all", "--llm-report=all.json")
        result.assert_outcomes(passed=rows)
        assert server.count(CHAT) == rows
        assert read_report(pytester.path / "all.json")["usage"]["store_hits"] == 0

    second = recorded_replies()
    assert second.keys() == first.keys()  # the same recordings, overwritten in place
    assert sorted(second.values()) == [f"answer {n} (model v2)" for n in range(rows)]


# -- replay ----------------------------------------------------------------------------------


CANARY_SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("answers", threshold=0.5)
@pytest.mark.llm_prompt(system="Answer tickets.", temperature=0.0)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_answer(case, llm_reply):
    assert llm_reply.text == case.expected

@pytest.mark.llm_metric("json", threshold=0.0)
@pytest.mark.llm_prompt(system="Answer in JSON.", temperature=0.0)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_json(case, llm_reply, llm_json):
    llm_json(llm_reply)

def test_moderated(llm, llm_moderation):
    reply = llm.chat("ticket 99", temperature=0.0)
    assert reply.text == "answer 99"
    assert not llm_moderation.check(reply.text).flagged
"""


def test_a_recording_made_with_a_key_replays_offline_without_it_and_never_holds_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 3
    write_dataset(pytester.path / "tickets.jsonl", rows)
    pytester.makepyfile(test_suite=CANARY_SUITE)
    reports = ["-rA", "--tb=long", "-v"]
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary.md"))

    monkeypatch.setenv("MISTRAL_API_KEY", CANARY_KEY)
    # The simulator refuses any request without the key: the first run really sends it.
    with Simulator(answer_tickets, require_api_key=CANARY_KEY) as server:
        recorded = run(
            pytester,
            *simulator_args(server),
            *reports,
            "--llm-report=recorded.json",
            "--llm-report-md=recorded.md",
            "--junitxml=recorded.xml",
        )
        assert server.count() > 0
        assert all(request.has_authorization for request in server.requests)

    monkeypatch.delenv("MISTRAL_API_KEY")
    replayed = run(
        pytester,
        *offline_args(closed_port_url()),
        *reports,
        "--llm-record-mode=none",
        "--llm-report=replayed.json",
        "--llm-report-md=replayed.md",
        "--junitxml=replayed.xml",
    )

    first = read_report(pytester.path / "recorded.json")
    second = read_report(pytester.path / "replayed.json")
    # One model failure per JSON case (`answer N` is not JSON), the rest passes: same both times.
    assert {case["category"] for case in first["cases"] if case["outcome"] == "failed"} == {
        "no_json_start"
    }
    assert outcomes(second) == outcomes(first)
    assert second["gate"]["passed"] == first["gate"]["passed"]
    assert second["usage"]["store_hits"] == second["usage"]["calls"] == first["usage"]["calls"]
    assert replayed.ret == recorded.ret

    written = [path for path in pytester.path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".json" and "store" in path.parts for path in written)
    leaks = [path for path in written if CANARY_KEY.encode() in path.read_bytes()]
    assert leaks == []
    for result in (recorded, replayed):
        output = "\n".join(result.outlines + result.errlines)
        assert CANARY_KEY not in output


def test_a_replay_only_miss_names_the_changed_parameter_and_blocks_the_gate(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    rows = 2
    make_suite(pytester, rows, temperature=0.0)
    assert run(pytester, *simulator_args(answering)).ret == pytest.ExitCode.OK
    answering.reset_counts()

    make_suite(pytester, rows, temperature=0.7)
    result = run(
        pytester, *simulator_args(answering), "--llm-record-mode=none", "--llm-report=report.json"
    )

    assert result.ret == 1
    assert answering.count() == 0
    report = read_report(pytester.path / "report.json")
    for case in report["cases"]:
        assert case["outcome"] == "error"
        assert case["error_type"] == "ReplayMissError"
        assert "temperature 0.7 != 0.0" in case["message"], case["message"]
    assert report["totals"]["failed"] == 0
    assert report["errors"]["infrastructure"] == rows
    assert report["gate"]["passed"] is False
    assert any("infrastructure error" in reason for reason in report["gate"]["reasons"])
    result.stdout.fnmatch_lines(["*temperature 0.7 != 0.0 (recorded)*"])


SAMPLES_SUITE = """
def test_flip(llm):
    first = llm.chat("flip a coin", temperature=0.7)
    second = llm.chat("flip a coin", temperature=0.7)
    assert (first.text, second.text) == ("first", "second")
"""


def test_identical_calls_in_a_test_are_recorded_and_replayed_as_samples_in_order(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_suite=SAMPLES_SUITE)
    with Simulator([{"match": "flip", "replies": ["first", "second"]}]) as server:
        result = run(pytester, *simulator_args(server))
        result.assert_outcomes(passed=1)
        assert server.count(CHAT) == 2

    files = recordings(pytester.path / "store")
    documents = [json.loads(file.read_text(encoding="utf-8")) for file in files]
    samples = {
        document["sample"]: document["response"]["body"]["choices"][0]["message"]["content"]
        for document in documents
    }
    assert samples == {0: "first", 1: "second"}
    assert len({file.name.rsplit("-", 1)[0] for file in files}) == 1  # one request, two samples

    result = run(
        pytester,
        *offline_args(closed_port_url()),
        "--llm-record-mode=none",
        "--llm-report=report.json",
    )
    result.assert_outcomes(passed=1)
    usage = read_report(pytester.path / "report.json")["usage"]
    assert usage["calls"] == usage["store_hits"] == 2
