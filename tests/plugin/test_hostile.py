"""A hostile server and a broken store: the key stays hidden, every wait is bounded, and every
failure is named and filed where it belongs.

Each test runs a small suite in an inner pytest session against the bundled simulator with the
faults a hostile server has (a dripping body, a cut body, echoed request headers, odd
Retry-After values, empty or non-JSON answers), through the real SDK and real HTTP.
"""

from __future__ import annotations

import json
import os
import stat
import time

import httpcore2  # noqa: F401  # keeps one httpcore2 for every inner run (see conftest.py)
import pytest

from pytest_llmeval.simulator import Simulator
from tests.conftest import CANARY_KEY, FT_MODEL, simulator_args
from tests.plugin.test_reliability import (
    CHAT,
    closed_port_url,
    make_suite,
    offline_args,
    read_report,
    recordings,
    run,
    write_dataset,
)

FRAGMENTS = [CANARY_KEY[start : start + 10] for start in range(len(CANARY_KEY) - 9)]


def leaked_fragments(text: str) -> list[str]:
    return [fragment for fragment in FRAGMENTS if fragment in text]


def leaks_in(pytester: pytest.Pytester, result: pytest.RunResult) -> dict[str, list[str]]:
    """Every file under the test folder, and the run's output, with the key pieces in it."""
    found: dict[str, list[str]] = {}
    output = "\n".join(result.outlines + result.errlines)
    if leaked_fragments(output):
        found["<output>"] = leaked_fragments(output)
    for path in pytester.path.rglob("*"):
        if path.is_file():
            pieces = leaked_fragments(path.read_bytes().decode("utf-8", "replace"))
            if pieces:
                found[str(path)] = pieces
    return found


ECHO_SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("answers", threshold=0.0)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_answer(case, llm_reply):
    echoed_reply_held_in_a_local = llm_reply.text * 3
    assert echoed_reply_held_in_a_local == case.expected

def test_error_body(llm):
    llm.chat("refuse me", temperature=0.0)
"""


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["-l", "--tb=long", "-rA", "-v"], id="locals-long"),
        pytest.param(["-l", "--tb=short"], id="locals-short"),
        pytest.param(["-n", "2", "-l"], id="xdist"),
    ],
)
def test_a_server_echoing_the_key_leaks_no_piece_of_it_anywhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    write_dataset(pytester.path / "tickets.jsonl", 2)
    pytester.makepyfile(test_suite=ECHO_SUITE)
    monkeypatch.setenv("MISTRAL_API_KEY", CANARY_KEY)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary.md"))
    rules = [
        {"match": "refuse", "status": 400, "echo_headers": True},
        {"match": "ticket", "echo_headers": True},
    ]
    with Simulator(rules, require_api_key=CANARY_KEY) as server:
        result = run(
            pytester,
            *simulator_args(server),
            *extra,
            "--llm-report=report.json",
            "--llm-report-md=report.md",
            "--junitxml=junit.xml",
        )
        assert server.count(CHAT) >= 3  # the key was sent, and echoed back
    report = read_report(pytester.path / "report.json")
    outcomes = {case["nodeid"].split("::")[1]: case["outcome"] for case in report["cases"]}
    assert outcomes["test_error_body"] == "error"
    assert outcomes["test_answer[t000]"] == "failed"
    result.stdout.fnmatch_lines(["*Bearer [*][*][*]*"])  # the echo arrived, hidden
    assert leaks_in(pytester, result) == {}


DEBUG_SUITE = """
def test_call(llm):
    assert llm.chat("ticket 1", temperature=0.0).text == "answer 1"
"""


def test_the_sdks_debug_log_never_writes_the_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, answering: Simulator
) -> None:
    pytester.makepyfile(test_suite=DEBUG_SUITE)
    monkeypatch.setenv("MISTRAL_API_KEY", CANARY_KEY)
    monkeypatch.setenv("MISTRAL_DEBUG", "1")
    # A subprocess: MISTRAL_DEBUG makes the SDK configure the root logger of its process.
    result = pytester.runpytest_subprocess(
        *simulator_args(answering),
        "--log-file=debug.log",
        "--log-file-level=DEBUG",
        "--log-cli-level=DEBUG",
        "-rA",
        timeout=120,
    )
    result.assert_outcomes(passed=1)
    log = (pytester.path / "debug.log").read_text(encoding="utf-8")
    assert "Authorization" in log or "authorization" in log  # the SDK did log the headers
    assert leaks_in(pytester, result) == {}


# -- bounded time -------------------------------------------------------------------------------


def test_a_dripping_body_ends_within_the_calls_bound_as_an_infrastructure_error(
    pytester: pytest.Pytester,
) -> None:
    make_suite(pytester, 1)
    with Simulator([{"match": "ticket", "drip_s": 0.5}]) as server:
        started = time.monotonic()
        result = pytester.runpytest(
            *simulator_args(server),
            "--llm-timeout=2",
            "--llm-max-retry-time=5",
            "--llm-report=report.json",
        )
        elapsed = time.monotonic() - started
        attempts = server.count(CHAT)
    report = read_report(pytester.path / "report.json")
    (case,) = report["cases"]
    assert case["outcome"] == "error" and report["errors"]["infrastructure"] == 1
    assert "the body was too slow" in case["message"]
    assert result.ret == 1
    # Two or three attempts of 2 s fit in 5 s; the dripped body alone would take minutes.
    assert 1 <= attempts <= 3
    assert elapsed < 60


def test_a_body_cut_short_is_retried_then_an_infrastructure_error(
    pytester: pytest.Pytester,
) -> None:
    make_suite(pytester, 1)
    with Simulator([{"match": "ticket", "cut_body": True}]) as server:
        run(pytester, *simulator_args(server), "--llm-max-retry-time=2", "--llm-report=r.json")
        assert server.count(CHAT) >= 2
    report = read_report(pytester.path / "r.json")
    (case,) = report["cases"]
    assert case["outcome"] == "error" and report["errors"]["infrastructure"] == 1
    assert "RemoteProtocolError" in case["message"]
    assert recordings(pytester.path / "store") == []


@pytest.mark.parametrize("value", ["nan", "-5", "soon, maybe", "inf"])
def test_a_nonsense_retry_after_backs_off_instead_of_hammering(
    pytester: pytest.Pytester, value: str
) -> None:
    make_suite(pytester, 1)
    with Simulator([{"match": "ticket", "status": 429, "retry_after": value}]) as server:
        result = run(
            pytester, *simulator_args(server), "--llm-max-retry-time=3", "--llm-report=r.json"
        )
        sent = server.count(CHAT)
    # Backoff of 0.5 s, 1 s, 2 s fits 3 to 4 attempts in 3 s; the 0.1 s floor would send ~30.
    assert 2 <= sent <= 5, sent
    report = read_report(pytester.path / "r.json")
    (case,) = report["cases"]
    assert case["outcome"] == "error" and report["errors"]["infrastructure"] == 1
    assert "HTTP 429" in case["message"]
    assert result.ret == 1


def test_a_retry_after_of_a_day_is_named_and_not_waited_for(pytester: pytest.Pytester) -> None:
    make_suite(pytester, 1)
    with Simulator([{"match": "ticket", "status": 429, "retry_after": 86400}]) as server:
        result = run(pytester, *simulator_args(server), "--llm-report=r.json")
        assert server.count(CHAT) == 1
    (case,) = read_report(pytester.path / "r.json")["cases"]
    assert "the server asked to wait 86400 s, more than --llm-max-retry-time" in case["message"]
    result.stdout.fnmatch_lines(["*the server asked to wait 86400 s*"])


def test_sixteen_cases_against_a_dead_url_fail_fast_naming_it(pytester: pytest.Pytester) -> None:
    make_suite(pytester, 16)
    url = closed_port_url()
    started = time.monotonic()
    result = pytester.runpytest(
        *offline_args(url), "--llm-max-retry-time=30", "--llm-report=report.json"
    )
    elapsed = time.monotonic() - started
    report = read_report(pytester.path / "report.json")
    assert [case["outcome"] for case in report["cases"]] == ["error"] * 16
    assert report["errors"]["infrastructure"] == 16
    down = [case for case in report["cases"] if case["error_type"] == "EndpointDownError"]
    assert len(down) >= 12
    assert all(f"{url} is down" in case["message"] for case in down)
    # Retrying each call for its 30 s budget would take 8 minutes; the circuit takes seconds.
    assert elapsed < 60, f"{elapsed:.1f}s"
    assert result.ret == 1
    assert report["endpoint_down"] == {"url": url, "cases": len(down)}
    result.stdout.fnmatch_lines([f"Endpoint down: {url} refused connections; * failed at once*"])


# -- wrong categories -----------------------------------------------------------------------------

EMPTY_CHOICES = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": FT_MODEL,
    "choices": [],
    "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1},
}


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        pytest.param({"body": EMPTY_CHOICES}, "with no choices", id="empty-choices"),
        pytest.param(
            {"body": "<html><body>Bad gateway</body></html>", "content_type": "text/html"},
            "with content type text/html, not JSON",
            id="html",
        ),
    ],
)
def test_a_200_without_a_reply_is_an_infrastructure_error_never_a_model_failure(
    pytester: pytest.Pytester, rule: dict[str, object], words: str
) -> None:
    make_suite(pytester, 2)
    with Simulator([{"match": "ticket", **rule}]) as server:
        result = run(pytester, *simulator_args(server), "--llm-report=r.json")
    report = read_report(pytester.path / "r.json")
    assert report["errors"]["infrastructure"] == 2
    for case in report["cases"]:
        assert case["outcome"] == "error"
        assert words in case["message"], case["message"]
        assert "HTTP 200" in case["message"]
        assert "failed with HTTP 200" not in case["message"]
    assert report["totals"]["failed"] == 0
    assert recordings(pytester.path / "store") == []
    assert result.ret == 1


# -- the store ------------------------------------------------------------------------------------


def test_an_unwritable_store_is_a_usage_error_before_any_call(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    make_suite(pytester, 2)
    (pytester.path / "store").write_text("not a folder\n", encoding="utf-8")
    result = run(pytester, *simulator_args(answering))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-store=*store: answers could not be recorded*"])
    assert answering.count() == 0
    # Replaying only needs to read it: no usage error then.
    result = run(pytester, *simulator_args(answering), "--llm-record-mode=none")
    assert result.ret != pytest.ExitCode.USAGE_ERROR


def test_a_store_that_refuses_a_write_still_delivers_the_answer(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    make_suite(pytester, 2)
    store = pytester.path / "store"
    store.mkdir()
    # The endpoint's folder is a file: every write fails, while the store itself looks fine.
    (store / "v1-chat-completions").write_text("in the way\n", encoding="utf-8")
    result = run(pytester, *simulator_args(answering), "--llm-report=r.json")
    result.assert_outcomes(passed=2)
    assert answering.count(CHAT) == 2
    report = read_report(pytester.path / "r.json")
    assert [case["outcome"] for case in report["cases"]] == ["passed", "passed"]
    (problem,) = report["store_problems"]
    assert f"the store {store.name} cannot be written" in problem
    assert "make it writable or pass --llm-store=DIR" in problem
    assert report["gate"]["passed"] is False
    (reason,) = report["gate"]["reasons"]
    assert "the store could not record answers (1 infrastructure error" in reason
    result.stdout.fnmatch_lines(["Store: the store * cannot be written*"])
    assert "in the test itself" not in result.stdout.str()


LEAKY_PROMPT_SUITE = """
import os

def test_call(llm):
    reply = llm.chat("my key is " + os.environ["MISTRAL_API_KEY"], temperature=0.0)
    assert reply.text
"""


def test_a_request_holding_the_key_is_answered_and_not_recorded(
    pytester: pytest.Pytester, answering: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_suite=LEAKY_PROMPT_SUITE)
    monkeypatch.setenv("MISTRAL_API_KEY", CANARY_KEY)
    result = run(pytester, *simulator_args(answering), "--llm-report=r.json")
    result.assert_outcomes(passed=1)
    report = read_report(pytester.path / "r.json")
    (problem,) = report["store_problems"]
    assert "refusing to record" in problem and "contains the API key" in problem
    assert report["errors"]["test_errors"] == 0
    assert recordings(pytester.path / "store") == []
    assert leaks_in(pytester, result) == {}


@pytest.mark.parametrize(
    "recorded",
    [
        pytest.param({"status": 500, "body": {"object": "error", "message": "boom"}}, id="500"),
        pytest.param({"status": 200, "body": {"id": "x", "choices": "none"}}, id="bad-body"),
    ],
)
def test_an_unusable_recording_is_named_and_recorded_again(
    pytester: pytest.Pytester, answering: Simulator, recorded: dict[str, object]
) -> None:
    make_suite(pytester, 1)
    run(pytester, *simulator_args(answering)).assert_outcomes(passed=1)
    (file,) = recordings(pytester.path / "store")
    shown = file.relative_to(pytester.path)
    document = json.loads(file.read_text(encoding="utf-8"))
    document["response"].update(recorded)
    file.write_text(json.dumps(document), encoding="utf-8")
    answering.reset_counts()

    result = run(
        pytester, *simulator_args(answering), "--llm-record-mode=none", "--llm-report=r.json"
    )
    report = read_report(pytester.path / "r.json")
    (case,) = report["cases"]
    assert case["outcome"] == "error" and report["errors"]["infrastructure"] == 1
    assert f"unusable recording {shown}" in case["message"], case["message"]
    assert answering.count() == 0
    result.stdout.fnmatch_lines([f"*unusable recording {shown}*"])

    result = run(pytester, *simulator_args(answering))  # new_episodes
    result.assert_outcomes(passed=1)
    assert answering.count(CHAT) == 1
    replaced = json.loads(file.read_text(encoding="utf-8"))
    assert replaced["response"]["status"] == 200
    assert replaced["response"]["body"]["choices"][0]["message"]["content"] == "answer 0"


# -- reports and files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "named"),
    [
        pytest.param("--llm-report=blocker/report.json", "--llm-report=", id="json"),
        pytest.param("--llm-report-md=blocker/report.md", "--llm-report-md=", id="markdown"),
        pytest.param("--llm-report-md=folder", "--llm-report-md=", id="a-folder"),
    ],
)
def test_an_unwritable_report_path_is_a_usage_error_at_start(
    pytester: pytest.Pytester, answering: Simulator, option: str, named: str
) -> None:
    make_suite(pytester, 1)
    (pytester.path / "blocker").write_text("a file where a folder should be\n", encoding="utf-8")
    (pytester.path / "folder").mkdir()
    result = run(pytester, *simulator_args(answering), option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{named}*cannot be written*"])
    assert answering.count() == 0


def test_an_unwritable_step_summary_is_a_usage_error_at_start(
    pytester: pytest.Pytester, answering: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_suite(pytester, 1)
    (pytester.path / "summary").mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary"))
    result = run(pytester, *simulator_args(answering))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*$GITHUB_STEP_SUMMARY=*cannot be appended to*"])


LATE_BLOCKER_SUITE = """
import os

def test_call(llm):
    os.mkdir("report.json")  # the report path turns into a folder while the run goes on
    assert llm.chat("ticket 1", temperature=0.0).text == "answer 1"
"""


def test_a_report_that_cannot_be_written_at_the_end_still_prints_the_gate_report(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    pytester.makepyfile(test_suite=LATE_BLOCKER_SUITE)
    result = run(pytester, *simulator_args(answering), "--llm-report=report.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*llmeval gate report*",
            "llmeval gate: PROMOTE",
            "llmeval: --llm-report=*report.json could not be written (IsADirectoryError*",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_store_and_the_reports_honour_the_umask(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    make_suite(pytester, 1)
    previous = os.umask(0o027)
    try:
        run(pytester, *simulator_args(answering), "--llm-report=r.json", "--llm-report-md=r.md")
    finally:
        os.umask(previous)
    written = [
        *recordings(pytester.path / "store"),
        pytester.path / "r.json",
        pytester.path / "r.md",
    ]
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o640}


# -- walls of text --------------------------------------------------------------------------------


def test_each_infrastructure_error_is_one_line_unless_asked_for_more(
    pytester: pytest.Pytester,
) -> None:
    make_suite(pytester, 3)
    args = [*offline_args(closed_port_url()), "--llm-max-retry-time=2"]
    short = run(pytester, *args)
    errors = short.stdout.str().split("= ERRORS =")[1].split("llmeval gate report")[0]
    lines = [line for line in errors.splitlines() if line.strip() and not line.startswith("=")]
    # Per case a header and the error's one line, and no frames of the SDK or httpx2.
    assert len(lines) == 3 * 2, errors
    assert "httpx2" not in errors and "mistralai" not in errors

    long = run(pytester, *args, "--tb=long")
    assert "mistralai" in long.stdout.str() or "httpx2" in long.stdout.str()


def test_a_missing_key_is_said_once_up_front(pytester: pytest.Pytester) -> None:
    make_suite(pytester, 4)
    args = [f"--llm-model={FT_MODEL}", "--llm-store=store", "-p", "no:cacheprovider"]
    result = run(pytester, *args)
    output = result.stdout.str()
    header = output.split("collected")[0]
    assert "llmeval: MISTRAL_API_KEY is not set" in header
    # The header, then one line per errored case in each of pytest's error section, the gate
    # report's error list and pytest's short summary, and the gate's reason: never a traceback.
    assert output.count("MISTRAL_API_KEY is not set") <= 1 + 4 + 4 + 4 + 1
    assert len(output.splitlines()) < 80
    assert result.ret == 1


# -- terminal escapes -------------------------------------------------------------------------

ESCAPE_SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("answers", threshold=0.0)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_json(case, llm_reply, llm_json):
    llm_json(llm_reply)
"""

FAKE_PROMOTE = "\x1b[2J\x1b[H\rllmeval gate: PROMOTE\x07"


def test_control_characters_from_the_model_are_shown_escaped(pytester: pytest.Pytester) -> None:
    write_dataset(pytester.path / "tickets.jsonl", 2)
    pytester.makepyfile(test_suite=ESCAPE_SUITE)
    rules = [
        # A model output that clears the screen, and a server error page that does the same.
        {"match": "ticket 1", "body": FAKE_PROMOTE, "content_type": "text/html"},
        {"match": "ticket", "reply": FAKE_PROMOTE},
    ]
    with Simulator(rules) as server:
        outputs = [
            run(pytester, *simulator_args(server), "--llm-report-md=r.md", *extra).stdout.str()
            for extra in (["-rA", "--tb=long"], [])
        ]
    for text in (*outputs, (pytester.path / "r.md").read_text(encoding="utf-8")):
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J" in outputs[1]  # shown, escaped
    assert "llmeval gate: BLOCK" in outputs[1]
