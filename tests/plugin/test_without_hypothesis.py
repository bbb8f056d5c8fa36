"""Hypothesis is an optional extra: without it, eval suites run and `strategies` says what to do.

The inner runs stand for an environment where hypothesis is not installed: its pytest plugin is
off (`-p no:hypothesispytest`) and a conftest makes `import hypothesis` fail as it would.
"""

from __future__ import annotations

import pytest

from pytest_llmeval.simulator import Simulator
from tests.conftest import simulator_args

NOT_INSTALLED = """
import importlib.abc
import sys


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hypothesis" or name.startswith("hypothesis."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""

SUITE = """
import pytest

@pytest.mark.llm_metric("answers", threshold=0.5)
@pytest.mark.llm_prompt(temperature=0)
def test_answer(llm):
    assert llm.chat("Where is my parcel?").text
"""

USES_STRATEGIES = """
def test_variations():
    from pytest_llmeval.strategies import variations
"""


def test_an_eval_suite_runs_and_strategies_name_the_extra(
    pytester: pytest.Pytester, simulator: Simulator
) -> None:
    pytester.makeconftest(NOT_INSTALLED)
    pytester.makepyfile(test_suite=SUITE, test_strategies=USES_STRATEGIES)
    result = pytester.runpytest_subprocess(
        *simulator_args(simulator), "-p", "no:hypothesispytest", "--llm-examples=3"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.re_match_lines(
        [r".*needs the hypothesis package: pip install 'pytest-llmeval-gate\[hypothesis\]'"]
    )
