"""The report as the report hook and users' gate rules see it: readable, never writable."""

from __future__ import annotations

import pytest

from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.model import RunInfo
from pytest_llmeval.report.read_only import ReadOnlyReportError, read_only
from tests.factories import case_record, gate_settings


def _report():  # type: ignore[no-untyped-def]
    records = [
        case_record(index, outcome="failed" if index < 3 else "passed", threshold=0.9)
        for index in range(5)
    ]
    return build_report(records, RunInfo(model="m"), gate_settings())


def test_every_figure_reads_as_on_the_report() -> None:
    report = _report()
    view = read_only(report)
    assert view.gate.passed is report.gate.passed
    assert view.groups[0].failed == 3
    assert view.usage.calls == 5
    assert view.to_dict() == report.to_dict()


@pytest.mark.parametrize(
    "change",
    [
        lambda view: setattr(view.gate_result, "passed", True),
        lambda view: setattr(view, "gate_result", None),
        lambda view: setattr(view.groups[0], "verdict", "pass"),
        lambda view: view.gate.reasons.clear(),
        lambda view: view.groups.append(None),
        lambda view: delattr(view, "groups"),
    ],
)
def test_nothing_can_be_changed_through_the_view(change) -> None:  # type: ignore[no-untyped-def]
    report = _report()
    before = report.to_dict()
    with pytest.raises((ReadOnlyReportError, AttributeError, TypeError)):
        change(read_only(report))
    assert report.to_dict() == before
    assert report.gate.passed is False


def test_what_a_method_returns_is_a_copy() -> None:
    report = _report()
    data = read_only(report).to_dict()
    data["gate"]["passed"] = True
    data["cases"][0]["outcome"] = "passed"
    assert report.gate.passed is False
    assert report.to_dict()["cases"][0]["outcome"] == "failed"
