"""A suite with no eval case pays for the plugin's options and hooks, and for nothing else;
what the plugin promises every session (start-up errors, the hidden key) still holds."""

from __future__ import annotations

import json

import pytest

# Written at the end of the inner session: which of the plugin's modules it had loaded.
MODULES_SEEN = """
import json, sys

def pytest_sessionfinish(session):
    # At session finish, not unconfigure: an xdist worker unconfigures after it has told the
    # controller it is done, so its file could still be unwritten when the run returns.
    config = session.config
    if hasattr(config, "workerinput"):
        name = "modules-" + config.workerinput["workerid"] + ".json"
    else:
        name = "modules.json"
    loaded = sorted(m for m in sys.modules if m.startswith(("pytest_llmeval", "mistralai")))
    with open(name, "w") as out:
        json.dump(loaded, out)
"""
# The eval machinery: what an eval case needs and a plain suite must not load.
EVAL_MODULES = (
    "pytest_llmeval.session.eval_session",
    "pytest_llmeval.case_record",
    "pytest_llmeval.data.datasets",
    "pytest_llmeval.session.prefetch",
    "pytest_llmeval.calls.endpoint",
    "pytest_llmeval.replay.store",
    "pytest_llmeval.report.gate",
    "pytest_llmeval.report.build",
    "pytest_llmeval.improvement.ledger",
    "pytest_llmeval.report.pricing",
    "mistralai",
)
PLAIN_SUITE = """
import pytest

@pytest.mark.parametrize("n", range(20))
def test_plain(n):
    assert n >= 0
"""


def loaded_modules(pytester: pytest.Pytester, name: str = "modules.json") -> list[str]:
    modules: list[str] = json.loads((pytester.path / name).read_text())
    return modules


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_suite_without_eval_cases_loads_none_of_the_eval_machinery(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makeconftest(MODULES_SEEN)
    pytester.makepyfile(test_plain=PLAIN_SUITE)
    result = pytester.runpytest_subprocess(
        *workers, "--llm-model=ft:open-mistral-7b:587a6b29:20240514:7e773925"
    )
    result.assert_outcomes(passed=20)
    assert result.ret == 0
    assert "llmeval gate report" not in result.stdout.str()
    names = ["modules.json"] + (["modules-gw0.json", "modules-gw1.json"] if workers else [])
    for name in names:
        modules = loaded_modules(pytester, name)
        assert "pytest_llmeval.plugin" in modules  # the plugin was there all along
        assert [module for module in EVAL_MODULES if module in modules] == [], name


def test_one_eval_case_loads_the_machinery_and_gets_its_report(pytester: pytest.Pytester) -> None:
    """The other side of the boundary: a test using an llm fixture brings the session in."""
    pytester.makeconftest(MODULES_SEEN)
    pytester.makepyfile(
        test_plain=PLAIN_SUITE,
        test_eval="""
        import pytest

        @pytest.mark.llm_metric("scores")
        def test_scored(llm_score):
            llm_score("accuracy", 1.0)
        """,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=21)
    assert "llmeval gate report" in result.stdout.str()
    modules = loaded_modules(pytester)
    assert (
        "pytest_llmeval.session.eval_session" in modules and "pytest_llmeval.report.gate" in modules
    )
    assert "mistralai" not in modules  # no call was made: the SDK stays out


def test_a_plain_test_printing_the_key_shows_none_of_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "plainsuite-canary-0123456789abcdef"
    monkeypatch.setenv("MISTRAL_API_KEY", key)
    pytester.makepyfile(
        """
        import os

        def test_leaks():
            key = os.environ["MISTRAL_API_KEY"]
            print("the key is", key)
            assert key == "something else"
        """
    )
    result = pytester.runpytest_subprocess("-l", "--tb=long", "-rA")
    result.assert_outcomes(failed=1)
    shown = result.stdout.str() + result.stderr.str()
    assert "the key is ***" in shown  # the captured output is there, the key is not
    assert key[:10] not in shown and key[-10:] not in shown


def test_a_bad_option_is_still_a_usage_error_at_start_without_eval_cases(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain=PLAIN_SUITE)
    result = pytester.runpytest_subprocess("--llm-concurrency=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-concurrency*"])
