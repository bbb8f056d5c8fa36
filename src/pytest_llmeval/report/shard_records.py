"""What a sharded run's case entries keep of their records, for `llmeval merge` (`merge.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_llmeval.case_record import CaseRecord
from pytest_llmeval.report.model import CaseEntry

# What a case entry keeps of its record in a sharded run, beyond its own keys: every field
# the report's figures read (the builder's `_Tally`, clusters) that the entry lacks.
SHARD_RECORD_FIELDS: tuple[str, ...] = (
    "infrastructure",
    "format_checks",
    "safety",
    "usage",
    "threshold",
    "min_score",
    "max_unsafe",
    "human_score",
    "judge_checks",
    "comparisons",
    "position_bias",
    "input_chars",
    "tags",
    "dataset",
    "models",
    "store_problem",
    "shard_order",
    # the `answers` and `store_integrity` sections, and the next run's `changes`
    "answers",
    "store_integrity",
    "timings",
)


def record_extra(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `record` its case entry lacks (SHARD_RECORD_FIELDS), those set only."""
    return {
        name: value
        for name in SHARD_RECORD_FIELDS
        if (value := record.get(name)) is not None
        and value != []
        and value != {}
        and value is not False
        and not (name in ("comparisons", "position_bias") and value == 0)
    }


def attach_records(cases: Sequence[CaseEntry], records: Iterable[CaseRecord]) -> None:
    """Gives each case entry of a sharded run its `record` (`record_extra`), in order."""
    for case, record in zip(cases, records, strict=True):
        case["record"] = record_extra(record)
