"""A newcomer's first day: a wrong model id stops at once, subset runs are never baselines,
one error is said once, and the counts add up."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmeval.simulator import Simulator
from tests.conftest import FT_MODEL, simulator_args

ROWS = [{"id": f"G{1 if n < 11 else 2}-{n}", "input": f"ticket {n}"} for n in range(20)]

DATASET_SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("intents", threshold=0.5)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_intent(case, llm_reply):
    assert llm_reply.text == "ok"
"""

SAFETY_SUITE = """
import pytest

@pytest.mark.llm_safety("redteam")
@pytest.mark.parametrize("n", range(3))
def test_safe(n, llm, llm_moderation):
    llm_moderation.assert_safe(llm.chat(f"attack {n}"))
"""

JUDGED_SUITE = """
import pytest

@pytest.mark.llm_judge("notes")
def test_note(llm, llm_judge):
    assert llm_judge.score(llm.chat("write a note"), rubric="clear").passed
"""


def write_dataset_suite(pytester: pytest.Pytester, rows: list[dict[str, Any]] = ROWS) -> None:
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    (pytester.path / "tickets.jsonl").write_text(lines, encoding="utf-8")
    pytester.makepyfile(test_intents=DATASET_SUITE)


def lines_naming(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if word in line]


def all_output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def answering_ok() -> Simulator:
    return Simulator([{"match": "ticket", "reply": "ok"}])


# -- the first check ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_wrong_model_id_stops_the_run_before_any_case(
    pytester: pytest.Pytester, simulator: Simulator, workers: list[str]
) -> None:
    write_dataset_suite(pytester)
    args = [arg for arg in simulator_args(simulator) if not arg.startswith("--llm-model")]
    result = pytester.runpytest_subprocess(*args, *workers, "--llm-model=mistral-smal-latest")
    output = all_output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    named = lines_naming(output, "mistral-smal-latest")
    assert len(named) <= 3, named
    assert any("did you mean mistral-small-latest" in line for line in named), named
    assert simulator.count("/v1/chat/completions") == 0
    assert "passed" not in output and "failed" not in output
    assert not (pytester.path / ".llmeval" / "ledger.jsonl").exists()


def test_the_judge_is_checked_only_when_the_suite_judges(
    pytester: pytest.Pytester, simulator: Simulator
) -> None:
    pytester.makepyfile(test_safety=SAFETY_SUITE)
    args = [*simulator_args(simulator), "--llm-judge-model=mistral-larg-latest"]
    assert pytester.runpytest(*args).ret == 0  # never judges: its judge is not asked about
    pytester.makepyfile(test_notes=JUDGED_SUITE)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--llm-judge-model=mistral-larg-latest: * does not serve this model*"
            "did you mean mistral-large-latest*"
        ]
    )


def test_the_cards_are_recorded_so_a_replay_checks_offline(pytester: pytest.Pytester) -> None:
    write_dataset_suite(pytester, ROWS[:3])
    with answering_ok() as simulator:
        args = simulator_args(simulator)
        assert pytester.runpytest(*args).ret == 0
        cards = simulator.count(f"/v1/models/{FT_MODEL}")
    assert cards == 1
    assert list((pytester.path / "store").glob("v1-models-*"))
    replay = pytester.runpytest(*args, "--llm-record-mode=none")  # the simulator is gone
    assert replay.ret == 0


def test_a_replay_of_an_old_store_without_cards_runs_as_before(pytester: pytest.Pytester) -> None:
    write_dataset_suite(pytester, ROWS[:3])
    with answering_ok() as simulator:
        args = simulator_args(simulator)
        assert pytester.runpytest(*args).ret == 0
    for folder in (pytester.path / "store").glob("v1-models-*"):
        for file in folder.rglob("*.json"):
            file.unlink()
    replay = pytester.runpytest(*args, "--llm-record-mode=none")
    assert replay.ret == 0
    replay.assert_outcomes(passed=3)


def test_the_simulator_answers_an_unknown_model_as_the_platform_does(
    simulator: Simulator,
) -> None:
    from mistralai.client import Mistral, errors

    client = Mistral(api_key="test", server_url=simulator.url)
    with pytest.raises(errors.SDKError) as card:
        client.models.retrieve(model_id="mistral-smal-latest")
    assert card.value.status_code == 404
    with pytest.raises(errors.SDKError) as chat:
        client.chat.complete(
            model="mistral-smal-latest", messages=[{"role": "user", "content": "hi"}]
        )
    assert chat.value.status_code == 400
    assert "Invalid model: mistral-smal-latest" in chat.value.body
    served = client.chat.complete(model=FT_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert served.choices


# -- complete and subset runs ------------------------------------------------------------------


def test_a_k_run_is_a_subset_and_last_passed_skips_it_so_the_regression_blocks(
    pytester: pytest.Pytester,
) -> None:
    write_dataset_suite(pytester)
    ledger = pytester.path / ".llmeval" / "ledger.jsonl"
    with answering_ok() as good:
        full = pytester.runpytest(*simulator_args(good), "--llm-report=full.json")
        assert full.ret == 0
        subset = pytester.runpytest(*simulator_args(good), "-k", "G1", "--llm-report=g1.json")
    assert subset.ret == 0
    subset.stdout.fnmatch_lines(["*subset run*9 eval cases deselected*"])
    report = json.loads((pytester.path / "g1.json").read_text())
    assert report["run"]["complete"] is False
    assert json.loads((pytester.path / "full.json").read_text())["run"]["complete"] is True
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [entry["complete"] for entry in entries] == [True, False]

    # The regressed run: 8 of the 9 G2 cases now fail. Against the full run it blocks.
    worse = Simulator(
        [{"match": r"ticket 1[1-8]$", "reply": "wrong"}, {"match": "ticket", "reply": "ok"}]
    )
    with worse:
        args = [*simulator_args(worse), "--llm-store=store-2", "--llm-report=regressed.json"]
        regressed = pytester.runpytest(*args, "--llm-baseline=ledger:last-passed")
    assert regressed.ret == 1
    compared = json.loads((pytester.path / "regressed.json").read_text())
    assert compared["baseline"]["source"] == "full.json"


def test_an_lf_rerun_is_a_subset_run(pytester: pytest.Pytester) -> None:
    write_dataset_suite(pytester, ROWS[:4])
    one_wrong = Simulator(
        [{"match": "ticket 0$", "reply": "wrong"}, {"match": "ticket", "reply": "ok"}]
    )
    with one_wrong:
        args = simulator_args(one_wrong)[:-2]  # with the cache: --lf needs it
        pytester.runpytest(*args, "--llm-report=first.json")
        pytester.runpytest(*args, "--lf", "--llm-report=rerun.json")
    assert json.loads((pytester.path / "first.json").read_text())["run"]["complete"] is True
    run = json.loads((pytester.path / "rerun.json").read_text())["run"]
    assert run["complete"] is False
    assert "--lf ran the last failures only" in run["subset"]


# -- one error, said once ----------------------------------------------------------------------


def test_a_misspelt_marker_argument_is_named_once_for_a_whole_parametrize(
    pytester: pytest.Pytester, run_args: list[str]
) -> None:
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.llm_metric("intents", threshhold=0.9)
        @pytest.mark.parametrize("n", range(14))
        def test_typo(n, llm):
            assert llm.chat(f"ticket {n}").text
        """
    )
    result = pytester.runpytest(*run_args)
    output = all_output(result)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    named = lines_naming(output, "threshhold")
    assert len(named) <= 3, named
    assert any("did you mean 'threshold'" in line and "14 cases" in line for line in named)
    verbose = pytester.runpytest(*run_args, "-v")
    assert "test_typo.py::test_typo[13]" in verbose.stdout.str()


def test_a_missing_key_is_named_on_three_lines_at_most(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_safety=SAFETY_SUITE)
    write_dataset_suite(pytester, ROWS[:4])
    result = pytester.runpytest(
        f"--llm-model={FT_MODEL}", "--llm-store=store", "-p", "no:cacheprovider"
    )
    output = all_output(result)
    assert result.ret == 1
    named = lines_naming(output, "MISTRAL_API_KEY")
    assert len(named) <= 3, named
    result.stdout.fnmatch_lines(
        ["  7 cases (the first: *): LLMAPIError: MISTRAL_API_KEY is not set*"]
    )


# -- the counts --------------------------------------------------------------------------------


def test_a_replay_of_23_misses_says_so(pytester: pytest.Pytester) -> None:
    rows = [{"id": f"c{n}", "input": f"ticket {n}"} for n in range(23)]
    write_dataset_suite(pytester, rows)
    (pytester.path / "store").mkdir()
    result = pytester.runpytest(
        f"--llm-model={FT_MODEL}",
        "--llm-store=store",
        "--llm-record-mode=none",
        "--llm-report=report.json",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*store 0 hits / 23 misses*"])
    usage = json.loads((pytester.path / "report.json").read_text())["usage"]
    assert (usage["store_hits"], usage["store_misses"]) == (0, 23)


def test_the_summary_reconciles_pytest_tally_with_the_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_safety=SAFETY_SUITE)
    write_dataset_suite(pytester, ROWS[:4])
    pytester.makepyfile(
        test_broken="""
        import pytest

        @pytest.mark.llm_metric("broken")
        def test_broken(llm):
            raise KeyError("oops")
        """
    )
    (pytester.path / "store").mkdir()
    result = pytester.runpytest(
        f"--llm-model={FT_MODEL}",
        "--llm-store=store",
        "--llm-record-mode=none",
        "-p",
        "no:cacheprovider",
    )
    result.stdout.fnmatch_lines(
        [
            "*pytest's 4 failed and 4 errors are the gate's 0 model failures,"
            " 7 infrastructure errors and 1 test-code error*"
        ]
    )


def test_a_misspelt_ini_key_gets_did_you_mean(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllm_concurency = 4\n")
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*llm_concurency * (did you mean 'llm_concurrency'?)*"])


def test_llmeval_init_writes_the_block_the_simulator_workflow_needs(
    pytester: pytest.Pytester, simulator: Simulator
) -> None:
    from pytest_llmeval.cli import main

    write_dataset_suite(pytester, ROWS[:2])
    assert (
        main(
            [
                "init",
                "--dir",
                str(pytester.path),
                "--port",
                str(simulator.port),
                "--model",
                FT_MODEL,
            ]
        )
        == 0
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)  # the simulator's default reply is not "ok": it was asked
    assert simulator.count("/v1/chat/completions") == 2
    assert (pytester.path / ".llmeval" / "simulator-store").is_dir()


def test_a_model_a_rule_names_exactly_is_served_with_a_card() -> None:
    from mistralai.client import Mistral

    with Simulator([{"model": "my-model", "reply": "hi"}]) as simulator:
        client = Mistral(api_key="test", server_url=simulator.url)
        assert client.models.retrieve(model_id="my-model").id == "my-model"
        reply = client.chat.complete(model="my-model", messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "hi"
