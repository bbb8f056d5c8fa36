"""What a reviewer needs of a run beyond its figures: each answer's digest, the recordings
the public key did not vouch for, and the `changes` against the baseline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_llmeval.report.changes import ChangePolicy, CurrentRun, compare
from pytest_llmeval.report.model import Report


@dataclass(frozen=True)
class ChangeInputs:
    """What the collector knows for `changes` beyond the records: the eval cases that were
    skipped or xfailed (node id -> "skipped" | "xfailed"), and the policy."""

    not_run: Mapping[str, str] = field(default_factory=dict)
    policy: ChangePolicy = field(default_factory=ChangePolicy)


def add_store_facts(
    report: Report,
    records: Iterable[Mapping[str, Any]],
    baseline: Mapping[str, Any] | None,
    source: str | None,
    inputs: ChangeInputs,
) -> None:
    """Sets the report's `answers` and `store_integrity` from the records, and with a
    baseline its `changes`, before `gate.decide` reads them."""
    answers, answer_cases, report.store_integrity = store_facts(records)
    report.answers = answers
    if baseline is None:
        return
    current = CurrentRun(
        groups=[group.to_dict() for group in report.groups],
        gate_settings=report.settings.to_dict(),
        cases=[case["nodeid"] for case in report.cases],
        not_run=inputs.not_run,
        answers=answers,
        answer_cases=answer_cases,
        store_key=report.run.store_key,
    )
    report.changes = compare(baseline, source, current, inputs.policy)


def store_facts(
    records: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """From case records: each request key's answer digest, the first case that used each
    key, and every distinct `store_integrity` entry, sorted."""
    answers: dict[str, str] = {}
    owners: dict[str, str] = {}
    integrity: set[str] = set()
    for record in records:
        recorded = record.get("answers")
        if isinstance(recorded, Mapping) and recorded:
            nodeid = str(record.get("nodeid"))
            for key, digest in recorded.items():
                if isinstance(key, str) and isinstance(digest, str):
                    answers[key] = digest
                    owners.setdefault(key, nodeid)
        entries = record.get("store_integrity")
        if isinstance(entries, list) and entries:
            integrity.update(str(entry) for entry in entries)
    return answers, owners, sorted(integrity)
