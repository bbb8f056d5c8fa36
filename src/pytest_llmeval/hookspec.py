"""pytest-llmeval's own hooks, for conftest.py files and plugins that extend the gate report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_llmeval.report.gate import GateRule
    from pytest_llmeval.report.model import Report


def pytest_llmeval_gate_rules(config: pytest.Config) -> Sequence[GateRule]:
    """Return extra gate rules; every implementation's rules are added to the built-in ones.

    A rule has a `name` and a `check(report) -> list[str]` that returns the reasons it fails
    (an empty list when it holds). A rule that raises fails the gate with a reason naming it.

    Example, in a conftest.py::

        class MaxCompletionTokens:
            name = "completion budget"

            def check(self, report):
                used = report.usage.completion_tokens
                return [] if used <= 50_000 else [f"{used} completion tokens, budget 50000"]

        def pytest_llmeval_gate_rules(config):
            return [MaxCompletionTokens()]
    """
    return ()


def pytest_llmeval_report(config: pytest.Config, report: Report) -> None:
    """Receive the finished gate report on the controller, after the verdict is known.

    Called once per session that ran eval cases, before the report files are written; use it
    to send the figures to an experiment tracker or to write an output of your own.
    `report.to_dict()` is the JSON report.

    Example, in a conftest.py::

        def pytest_llmeval_report(config, report):
            tracker.log({"promote": report.gate.passed, "validity": report.format.validity})
    """
