"""The `llm` fixture over the real SDK and the simulator: replies, skips, retries, failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pytest_llmeval.simulator import Simulator
from tests.conftest import CANARY_KEY, FT_MODEL


def test_without_a_model_eval_tests_are_skipped_with_the_way_out(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_eval(llm):
            llm.chat("Say hi")

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*no model under test: pass --llm-model=ID*LLMEVAL_MODEL*"])
    assert result.ret == 0


def test_chat_returns_the_servers_reply_for_a_fine_tuned_model(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    simulator.add_rule({"match": "Say hi", "reply": "Hi from the simulator"})
    pytester.makepyfile(
        f"""
        def test_hi(llm):
            reply = llm.chat("Say hi")
            assert reply.text == "Hi from the simulator"
            assert reply.finish_reason == "stop"
            assert reply.model == "{FT_MODEL}"
            assert reply.usage.completion_tokens > 0 and reply.latency_s > 0
            assert llm.model_info.root == "open-mistral-7b"
        """
    )
    result = pytester.runpytest(*run_args)
    result.assert_outcomes(passed=1)
    assert simulator.count("/v1/chat/completions") == 1
    # The same server named with the /v1 an OpenAI-style client would use.
    with_v1 = [arg + "/v1" if arg.startswith("--llm-server-url") else arg for arg in run_args]
    pytester.runpytest(*with_v1, "--llm-record-mode=all").assert_outcomes(passed=1)
    assert simulator.count("/v1/chat/completions") == 2


def test_chunked_content_and_the_system_prompt(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    simulator.add_rule({"system": "pirate", "reply_chunks": ["Ahoy", ", matey"]})
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_prompt(system="You are a pirate.", temperature=0.0)
        def test_pirate(llm):
            assert llm.chat("Greet me").text == "Ahoy, matey"
        """
    )
    pytester.runpytest(*run_args).assert_outcomes(passed=1)
    body = next(r for r in reversed(simulator.requests) if r.endpoint == "chat").body
    assert body["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert body["temperature"] == 0.0


def test_429_with_retry_after_is_waited_out(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    simulator.add_rule({"match": "busy", "reply": "done", "fail": [429], "retry_after": 1})
    pytester.makepyfile(
        """
        def test_busy(llm):
            assert llm.chat("busy hour").text == "done"
        """
    )
    started = time.monotonic()
    result = pytester.runpytest(*run_args, "--llm-report=report.json")
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=1)
    assert elapsed >= 1.0
    assert simulator.count("/v1/chat/completions") == 2
    result.stdout.fnmatch_lines(["*retries*1*"])


def case_duration(pytester: pytest.Pytester) -> float:
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    duration: float = report["cases"][0]["duration_s"]
    return duration


def test_a_server_that_always_fails_is_an_infrastructure_error_within_the_bound(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    simulator.add_rule({"match": ".", "status": 500})
    pytester.makepyfile(
        """
        def test_down(llm):
            llm.chat("anything")
        """
    )
    result = pytester.runpytest(*run_args, "--llm-max-retry-time=3", "--llm-report=report.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*LLMAPIError: POST /v1/chat/completions (model {FT_MODEL})"
            " failed after * attempts within 3s: HTTP 500*"
        ]
    )
    assert case_duration(pytester) < 3 + 1.5
    assert simulator.count("/v1/chat/completions") >= 2
    assert result.ret == 1


def test_a_hung_server_ends_in_a_timeout_within_the_bound(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    simulator.add_rule({"match": ".", "hang_s": 30})
    pytester.makepyfile(
        """
        def test_hang(llm):
            llm.chat("anything")
        """
    )
    result = pytester.runpytest(
        *run_args, "--llm-timeout=0.5", "--llm-max-retry-time=2", "--llm-report=report.json"
    )
    result.stdout.fnmatch_lines(["*LLMAPIError:*within 2s: timed out after 0.5s*"])
    assert case_duration(pytester) < 2 + 1.5


def test_missing_key_against_the_public_api_is_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_hi(llm):
            llm.chat("Say hi")
        """
    )
    result = pytester.runpytest("--llm-model=mistral-small-latest", "--llm-store=store")
    result.stdout.fnmatch_lines(["*LLMAPIError: MISTRAL_API_KEY is not set*"])
    assert "mistralai" not in result.stdout.str().split("short test summary")[-1]


def test_the_api_key_never_reaches_output_or_files(
    pytester: pytest.Pytester,
    simulator: Simulator,
    run_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", CANARY_KEY)
    simulator.add_rule({"match": "echo", "echo": True})
    pytester.makepyfile(
        f"""
        import os

        def test_echo(llm):
            llm.chat("echo this")
            assert False, "the key is " + os.environ["MISTRAL_API_KEY"]

        def test_down(llm):
            raise RuntimeError("{CANARY_KEY} leaked into an error")
        """
    )
    result = pytester.runpytest(
        *run_args, "--llm-report=report.json", "--llm-report-md=report.md", "--junitxml=junit.xml"
    )
    assert CANARY_KEY not in result.stdout.str() + result.stderr.str().replace("\n", "")
    written = [p for p in Path(pytester.path).rglob("*") if p.is_file()]
    assert any(p.name == "report.json" for p in written)
    for path in written:
        if path.suffix in {".json", ".md"}:
            assert CANARY_KEY not in path.read_text(encoding="utf-8"), path
    assert all(r.has_authorization for r in simulator.requests)


def test_the_simulator_fixture_serves_a_users_own_plumbing_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from mistralai.client import Mistral

        def test_plumbing(llm_simulator):
            llm_simulator.add_rule({"match": "ping", "reply": "pong"})
            client = Mistral(api_key="test", server_url=llm_simulator.url)
            reply = client.chat.complete(
                model="ft:open-mistral-7b:1:2:3", messages=[{"role": "user", "content": "ping"}]
            )
            assert reply.choices[0].message.content == "pong"
            assert llm_simulator.count("/v1/chat/completions") == 1
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
