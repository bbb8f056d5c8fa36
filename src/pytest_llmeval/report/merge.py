"""One verdict from the JSON reports of a sharded run (`--llm-shard=K/N`): `llmeval merge`.

Each shard's report lists its cases with what the report builder needs of their records
(the entry's `record`, written only in sharded runs). The merge turns the entries of every
shard back into case records and builds the report of their union through `build_report`
and `gate.decide`, exactly as an unsharded run does: group rates, intervals, the baseline
comparison and every verdict are computed over all cases, never averaged from the shards'.

A shard missing, given twice, from another suite (another case list, another model, another
N) or holding cases that are not its own makes the run incomplete: the gate blocks as
`incomplete_run`, naming each problem.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmeval.case_record import RECORD_FIELDS, CaseRecord
from pytest_llmeval.errors import BaselineError
from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.model import DataSummary, Report, RunInfo
from pytest_llmeval.report.shard_records import SHARD_RECORD_FIELDS

# Case entry keys that are record fields under the same name.
_ENTRY_FIELDS = frozenset(RECORD_FIELDS) & {
    *("nodeid", "group", "kind", "outcome", "category", "finish_reason", "error_type"),
    *("message", "scores", "judge_scores", "duration_s", "request", "output", "run"),
}


@dataclass(frozen=True)
class Shard:
    """`--llm-shard=K/N`: the K-th of N shards, K counted from 1."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    def holds(self, case_id: str) -> bool:
        """True when the case of this id runs in this shard."""
        return shard_index(case_id, self.count) == self.index


def shard_index(case_id: str, count: int) -> int:
    """The shard (1..count) of the case whose id is `case_id`: a hash of the id alone, so a
    case lands in the same shard whatever the order or the other cases of the suite."""
    digest = hashlib.sha256(case_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def suite_digest(case_ids: Iterable[str]) -> str:
    """What names a suite's eval cases for the merge: sha256 of their sorted ids."""
    hasher = hashlib.sha256()
    for case_id in sorted(case_ids):
        hasher.update(case_id.encode("utf-8", "surrogatepass") + b"\n")
    return hasher.hexdigest()


def entry_record(entry: Mapping[str, Any]) -> CaseRecord:
    """The case record behind a sharded run's case entry: its keys, then its `record`."""
    record: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    for key, value in entry.items():
        if key in _ENTRY_FIELDS:
            record[key] = value
    if "case" in entry:
        record["case_nodeid"] = entry["case"]
    extra = entry.get("record")
    if isinstance(extra, Mapping):
        record.update((key, value) for key, value in extra.items() if key in SHARD_RECORD_FIELDS)
    for key in ("format_checks", "judge_checks", "models"):
        if record[key] is None:
            record[key] = []
    for key in ("comparisons", "position_bias"):
        if record[key] is None:
            record[key] = 0
    if record["infrastructure"] is None:
        record["infrastructure"] = False
    return record  # type: ignore[return-value]  # every key of CaseRecord is there


@dataclass
class ShardReport:
    """One shard's JSON report, as read from `source`."""

    source: str
    data: dict[str, Any]

    @property
    def run(self) -> dict[str, Any]:
        run = self.data.get("run")
        return run if isinstance(run, dict) else {}

    @property
    def shard(self) -> Shard | None:
        shard = self.run.get("shard")
        if not isinstance(shard, dict):
            return None
        index, count = shard.get("index"), shard.get("count")
        if type(index) is not int or type(count) is not int or not 1 <= index <= count:
            return None
        return Shard(index, count)

    @property
    def suite(self) -> dict[str, Any]:
        suite = self.run.get("suite")
        return suite if isinstance(suite, dict) else {}

    @property
    def cases(self) -> list[dict[str, Any]]:
        return [case for case in self.data.get("cases") or () if isinstance(case, dict)]


def read_shard_report(path: str | os.PathLike[str]) -> ShardReport:
    """A shard's JSON report; `BaselineError` naming the file when it is not one at all."""
    from pytest_llmeval.report.baseline import load_baseline

    source = os.fspath(path)
    try:
        data = load_baseline(source)
    except BaselineError as error:
        raise BaselineError(str(error).replace("baseline report", "report", 1)) from None
    return ShardReport(source, data)


def merge_problems(shards: Sequence[ShardReport]) -> list[str]:
    """What makes the shards not one complete run, one sentence each; [] when they are."""
    problems: list[str] = []
    if not shards:
        return ["no shard report was given"]
    plain = [shard.source for shard in shards if shard.shard is None]
    problems += [f"{source} is not the report of a sharded run (no run.shard)" for source in plain]
    sharded = [shard for shard in shards if shard.shard is not None]
    if not sharded:
        return problems
    first = sharded[0]
    count = first.shard.count if first.shard is not None else 0
    for shard in sharded[1:]:
        problems += [
            f"{shard.source} is not of the same run as {first.source}: {what}"
            for what in _differences(first, shard)
        ]
    seen: dict[int, str] = {}
    for shard in sharded:
        spec = shard.shard
        assert spec is not None
        if spec.index in seen:
            problems.append(f"shard {spec} is given twice ({seen[spec.index]}, {shard.source})")
        seen.setdefault(spec.index, shard.source)
        foreign = [
            case_id
            for case in shard.cases
            if not spec.holds(case_id := str(case.get("case") or case.get("nodeid")))
        ]
        if foreign and spec.count == count:
            problems.append(
                f"{shard.source} holds {len(foreign)} cases of other shards than {spec} "
                f"(first: {foreign[0]}): it was not split by --llm-shard={spec}"
            )
    missing = [index for index in range(1, count + 1) if index not in seen]
    problems += [f"shard {index}/{count} is missing" for index in missing]
    nodeids: dict[str, str] = {}
    for shard in sharded:
        for case in shard.cases:
            nodeid = str(case.get("nodeid"))
            if nodeid in nodeids and nodeids[nodeid] != shard.source:
                problems.append(
                    f"case {nodeid} is in two reports ({nodeids[nodeid]}, {shard.source})"
                )
                break
            nodeids.setdefault(nodeid, shard.source)
    return problems


def _differences(first: ShardReport, other: ShardReport) -> list[str]:
    found: list[str] = []
    a, b = first.shard, other.shard
    if a is not None and b is not None and a.count != b.count:
        found.append(f"{b.count} shards, not {a.count}")
    for key, what in (("name", "suite"), ("digest", "eval cases")):
        if first.suite.get(key) != other.suite.get(key):
            found.append(f"another {what} ({other.suite.get(key)!r}, not {first.suite.get(key)!r})")
    for key in ("model", "repeat"):
        if first.run.get(key) != other.run.get(key):
            found.append(f"{key} {other.run.get(key)!r}, not {first.run.get(key)!r}")
    return found


def merged_records(shards: Sequence[ShardReport]) -> list[CaseRecord]:
    """The case records of every shard, in the order the unsharded run collects them."""
    records = [entry_record(case) for shard in shards for case in shard.cases]
    last = len(records)
    records.sort(key=lambda record: _order(record, last))
    return records


def _order(record: Mapping[str, Any], last: int) -> int:
    order = record.get("shard_order")
    return order if type(order) is int else last


def merged_run(shards: Sequence[ShardReport], problems: Sequence[str]) -> RunInfo:
    """The run of the union: the first shard's settings, every shard's counts."""
    sharded = [shard for shard in shards if shard.shard is not None] or list(shards)
    first = sharded[0].run if sharded else {}

    def total(key: str) -> int:
        return sum(value for shard in sharded if type(value := shard.run.get(key)) is int)

    suite = sharded[0].suite if sharded else {}
    eval_cases = (
        total("eval_cases") if any(s.run.get("eval_cases") is not None for s in sharded) else None
    )
    # Each shard counts the other shards' cases as deselected: only what -k or -m left out
    # before the split is the union's.
    deselected = 0
    if sharded and type(first.get("deselected")) is int:
        own = _count(first.get("eval_cases"))
        before = _count(suite.get("eval_cases"), own)
        deselected = max(0, first["deselected"] - (before - own))
    warnings: list[str] = []
    for shard in sharded:
        warnings += [str(w) for w in shard.run.get("warnings") or () if str(w) not in warnings]
    stop = next(
        (shard.run.get("stop_reason") for shard in sharded if shard.run.get("stop_reason")), None
    )
    durations = [
        float(value)
        for shard in sharded
        if isinstance(value := shard.run.get("duration_s"), (int, float))
    ]
    run = RunInfo(
        model=first.get("model"),
        judge_model=first.get("judge_model"),
        moderation_model=first.get("moderation_model"),
        started=min(
            (str(s.run.get("started")) for s in sharded if s.run.get("started")), default=""
        )
        or RunInfo(model=None).started,
        duration_s=max(durations, default=0.0),
        record_mode=first.get("record_mode"),
        plugin_version=first.get("plugin_version"),
        workers=first.get("workers") if type(first.get("workers")) is int else None,
        models=dict(first.get("models") or {}),
        warnings=warnings,
        repeat=_count(first.get("repeat"), 1),
        eval_cases=eval_cases,
        deselected=deselected,
        not_run=total("not_run"),
        stop_reason=stop,
        skipped_no_model=total("skipped_no_model"),
        model_required=any(bool(shard.run.get("model_required")) for shard in sharded),
    )
    run.merged = {
        "shards": len(shards),
        "reports": [shard.source for shard in shards],
        "problems": list(problems),
    }
    if suite:
        run.suite = dict(suite)
    return run


def _count(value: object, default: int = 0) -> int:
    return value if type(value) is int else default


def gate_settings_of(shards: Sequence[ShardReport]) -> GateSettings:
    """The gate settings the shards ran with (the first's; `BaselineError` if unreadable)."""
    for shard in shards:
        gate = shard.data.get("gate")
        settings = gate.get("settings") if isinstance(gate, dict) else None
        if isinstance(settings, dict):
            try:
                return GateSettings(
                    format_threshold=float(settings["format_threshold"]),
                    max_errors=int(settings["max_errors"]),
                    max_drop=float(settings["max_drop"]),
                    alpha=float(settings["alpha"]),
                )
            except (KeyError, TypeError, ValueError) as error:
                raise BaselineError(
                    f"report {shard.source} has unreadable gate settings ({error})"
                ) from None
    raise BaselineError("no report gives its gate settings (gate.settings)")


def merged_data(shards: Sequence[ShardReport]) -> DataSummary | None:
    """The union of the shards' `data` sections (`--llm-train-data`), when they have one."""
    sections = [data for shard in shards if isinstance(data := shard.data.get("data"), dict)]
    if not sections:
        return None
    contaminated: list[str] = []
    drift: list[dict[str, str]] = []
    for section in sections:
        contaminated += [
            str(n) for n in section.get("contaminated") or () if str(n) not in contaminated
        ]
        drift += [
            dict(d)
            for d in section.get("prompt_drift") or ()
            if isinstance(d, dict) and dict(d) not in drift
        ]
    limit = sections[0].get("max_contaminated")
    return DataSummary(
        train_data=str(sections[0].get("train_data")),
        contaminated=sorted(contaminated),
        prompt_drift=drift,
        max_contaminated=limit if type(limit) is int else 0,
    )


def merge_reports(
    shards: Sequence[ShardReport],
    *,
    baseline: Mapping[str, Any] | None = None,
    baseline_source: str | None = None,
) -> Report:
    """The one report, decided, of the union of `shards` (see the module docstring)."""
    from pytest_llmeval.report.build import build_report
    from pytest_llmeval.report.pricing import shipped_table

    problems = merge_problems(shards)
    return build_report(
        merged_records(shards),
        merged_run(shards, problems),
        gate_settings_of(shards),
        baseline=baseline,
        baseline_source=baseline_source,
        interrupted=any(bool(shard.run.get("interrupted")) for shard in shards),
        data=merged_data(shards),
        prices=shipped_table(),
    )
