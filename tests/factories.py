"""Builders of test data shared by the pure report, gate and renderer tests."""

from __future__ import annotations

from typing import Any


def case_record(
    index: int, group: str = "triage", outcome: str = "passed", **fields: Any
) -> dict[str, Any]:
    """A case record as docs/architecture.md defines it; `fields` override the defaults."""
    base: dict[str, Any] = {
        "nodeid": f"tests/test_{group}.py::test_{group}[case-{index}]",
        "group": group,
        "kind": "metric",
        "outcome": outcome,
        "error_type": None,
        "infrastructure": False,
        "message": None,
        "category": None,
        "finish_reason": "stop",
        "format_checks": [],
        "scores": {},
        "judge_scores": [],
        "safety": {"flagged": False, "categories": []},
        "usage": {
            "calls": 1,
            "prompt_tokens": 31,
            "completion_tokens": 12,
            "retries": 0,
            "latency_s": 0.25,
            "store_hits": 0,
            "store_misses": 1,
        },
        "threshold": None,
        "min_score": None,
        "max_unsafe": None,
        "duration_s": 0.31,
    }
    base.update(fields)
    return base
