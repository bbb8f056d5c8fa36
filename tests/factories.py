"""Builders of test data shared by the pure report, gate and renderer tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_llmeval.case_record import CaseRecord, CaseRecorder, GroupSettings
from pytest_llmeval.report.gate_settings import GateSettings
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
