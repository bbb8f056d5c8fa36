"""Builders of test data shared by the pure report, gate and renderer tests."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pytest_llmeval.case_record import CaseRecord, CaseRecorder, GroupSettings
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.model import RunInfo
from pytest_llmeval.session.options import default_gate_settings


def case_record(
    index: int, group: str = "triage", outcome: str = "passed", **fields: Any
) -> CaseRecord:
    """A case record as a recorder makes it, one model call made; `fields` override any key."""
    nodeid = f"tests/test_{group}.py::test_{group}[case-{index}]"
    recorder = CaseRecorder(nodeid, GroupSettings(group))
    record = recorder.to_record(outcome=outcome, duration_s=0.31)
    record["finish_reason"] = "stop"
    record["usage"] = {
        "calls": 1,
        "prompt_tokens": 31,
        "completion_tokens": 12,
        "retries": 0,
        "latency_s": 0.25,
        "store_hits": 0,
        "store_misses": 1,
    }
    record.update(fields)  # type: ignore[typeddict-item]  # tests also pass hostile values
    return record


def gate_settings(**overrides: Any) -> GateSettings:
    """The gate's settings as the options' defaults make them, with `overrides`."""
    return dataclasses.replace(default_gate_settings(), **overrides)


# An output that must stay text: HTML that would run, Markdown, ANSI and bidi controls.
HOSTILE = (
    "<script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\">"
    " **bold** [click](http://evil.example/x) ![img](https://evil.example/i.png)"
    " \x1b[31mred\x1b[0m \u202eevil"
)


def output(text: str) -> dict[str, Any]:
    return {"text": text, "length": len(text)}


def json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def flipped_runs(regressed: int = 3) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON reports of a baseline run of 10 cases that all passed and of a run whose first
    `regressed` fail (the first with a hostile output), compared with it: (run, baseline)."""
    before = [
        case_record(
            index,
            "intent",
            output=output(f'{{"intent": "billing", "ticket": {index}}}'),
            request=[{"role": "user", "content": f"ticket {index}"}],
            threshold=0.9,
        )
        for index in range(10)
    ]
    baseline = json_round_trip(
        build_report(before, RunInfo(model="base"), gate_settings()).to_dict()
    )
    now = [
        case_record(
            index,
            "intent",
            outcome="failed" if index < regressed else "passed",
            category="no_json_start" if index < regressed else "valid",
            format_checks=["no_json_start" if index < regressed else "valid"],
            message="no JSON value in the output" if index < regressed else None,
            output=output(HOSTILE if index == 0 else f'{{"intent": "login", "ticket": {index}}}'),
            request=[{"role": "user", "content": f"ticket {index}"}],
            threshold=0.9,
        )
        for index in range(10)
    ]
    report = build_report(
        now, RunInfo(model="head"), gate_settings(), baseline=baseline, baseline_source="main.json"
    )
    return json_round_trip(report.to_dict()), baseline
