"""What a run changed against its baseline: gate settings, cases, recorded answers.

A reviewer of a pull request sees here what the check itself was changed to let through: a
threshold lowered, a gated group gone, cases skipped or deleted, recorded answers edited.
Under CI (`CI` set) the relaxations and the dropped cases block, unless the workflow's own
command line allows them (`--llm-allow-relaxed`, `--llm-allow-skips`): the gate rules
`relaxed_gate` and `skipped_cases` in `gate.py` read `Changes`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# How many node ids each list of the terminal and Markdown names; the JSON has them all.
SHOWN = 5

# Session-wide gate settings: (key in `gate.settings`, how it reads, which way relaxes).
_SESSION_SETTINGS = (
    ("format_threshold", "format threshold", "lower"),
    ("max_errors", "max-errors", "higher"),
    ("max_drop", "max-drop", "higher"),
    ("alpha", "alpha", "lower"),
)
# Per-group settings: (key in a group, how it reads, which way relaxes).
_GROUP_SETTINGS = (
    ("threshold", "threshold", "lower"),
    ("max_unsafe", "max_unsafe", "higher"),
    ("min_score", "min_score", "lower"),
)


@dataclass(frozen=True)
class ChangePolicy:
    """Whether the changes block: `enforced` under CI, unless the command line allows them."""

    enforced: bool = False
    allow_skips: bool = False
    allow_relaxed: bool = False


@dataclass(frozen=True)
class SettingChange:
    """One gate setting that differs from the baseline's; `group` None for a session-wide one."""

    setting: str
    before: Any
    now: Any
    relaxed: bool
    text: str
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "setting": self.setting,
            "before": self.before,
            "now": self.now,
            "relaxed": self.relaxed,
            "text": self.text,
        }


@dataclass
class Changes:
    """The run against its baseline, for the reviewer (shown under the verdict)."""

    baseline: str | None
    policy: ChangePolicy = field(default_factory=ChangePolicy)
    settings: list[SettingChange] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # ran in the baseline, gone now
    skipped: list[str] = field(default_factory=list)  # ran in the baseline, skipped now
    xfailed: list[str] = field(default_factory=list)  # ran in the baseline, xfailed now
    answers_compared: int = 0
    answers_differ: list[str] = field(default_factory=list)  # "nodeid (request key)"

    @property
    def relaxed(self) -> list[SettingChange]:
        return [change for change in self.settings if change.relaxed]

    @property
    def dropped(self) -> int:
        """Cases the baseline ran that did not run now (skipped, xfailed or removed)."""
        return len(self.removed) + len(self.skipped) + len(self.xfailed)

    @property
    def empty(self) -> bool:
        return not (self.settings or self.added or self.dropped or self.answers_differ)

    def lines(self, *, every: bool = False) -> list[str]:
        """One sentence per change, first few node ids of each list (all with `every`)."""
        lines = [change.text for change in self.settings]
        for nodeids, what in (
            (self.skipped, "the baseline ran are skipped now"),
            (self.xfailed, "the baseline ran are xfailed now"),
            (self.removed, "the baseline ran are gone (removed or deselected)"),
            (self.added, "are new since the baseline"),
        ):
            if nodeids:
                lines.append(f"{_cases(len(nodeids))} {what}: {_listed(nodeids, every)}")
        if self.answers_differ:
            count = len(self.answers_differ)
            verb = "answer differs" if count == 1 else "answers differ"
            lines.append(
                f"{count} recorded {verb} from the baseline's ({self.answers_compared} compared): "
                f"{_listed(self.answers_differ, every)}"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "settings": [change.to_dict() for change in self.settings],
            "relaxed": len(self.relaxed),
            "cases": {
                "added": list(self.added),
                "removed": list(self.removed),
                "skipped": list(self.skipped),
                "xfailed": list(self.xfailed),
            },
            "answers": {"compared": self.answers_compared, "differ": list(self.answers_differ)},
            "enforced": self.policy.enforced,
            "allow_skips": self.policy.allow_skips,
            "allow_relaxed": self.policy.allow_relaxed,
            "lines": self.lines(every=True),
        }


@dataclass(frozen=True)
class CurrentRun:
    """What `compare` reads of this run: its groups' settings, cases and answers."""

    groups: Sequence[Mapping[str, Any]]  # each with name, kind, threshold, max_unsafe, min_score
    gate_settings: Mapping[str, Any]
    cases: Sequence[str]  # node ids of the eval cases that ran
    not_run: Mapping[str, str] = field(default_factory=dict)  # node id -> "skipped" | "xfailed"
    answers: Mapping[str, str] = field(default_factory=dict)  # request key -> answer digest
    answer_cases: Mapping[str, str] = field(default_factory=dict)  # request key -> node id
    store_key: str | None = None  # key id of llm_store_public_key, None when not checked


def compare(
    baseline: Mapping[str, Any],
    source: str | None,
    current: CurrentRun,
    policy: ChangePolicy = ChangePolicy(),
) -> Changes:
    """The changes of `current` against `baseline` (a JSON report)."""
    changes = Changes(baseline=source, policy=policy)
    gate = baseline.get("gate")
    before_settings = gate.get("settings") if isinstance(gate, Mapping) else None
    if isinstance(before_settings, Mapping):
        changes.settings += _session_changes(before_settings, current.gate_settings)
    changes.settings += _group_changes(_groups(baseline.get("groups")), current.groups)
    run = baseline.get("run")
    store_change = _store_change(
        run.get("store_key") if isinstance(run, Mapping) else None, current.store_key
    )
    if store_change is not None:
        changes.settings.append(store_change)
    _case_changes(changes, baseline.get("cases"), current)
    _answer_changes(changes, baseline.get("answers"), current)
    return changes


def _session_changes(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[SettingChange]:
    found = []
    for key, label, relaxing in _SESSION_SETTINGS:
        old, new = _number(before.get(key)), _number(now.get(key))
        if old is None or new is None or old == new:
            continue
        relaxed = new < old if relaxing == "lower" else new > old
        direction = "lowered" if new < old else "raised"
        found.append(
            SettingChange(key, old, new, relaxed, f"{label} {direction} {_n(old)} → {_n(new)}")
        )
    return found


def _group_changes(
    before: Mapping[str, Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> list[SettingChange]:
    now = {str(group.get("name")): group for group in current}
    found: list[SettingChange] = []
    for name, old in before.items():
        new = now.get(name)
        if new is None:
            if _gated(old):
                found.append(
                    SettingChange(
                        "group",
                        name,
                        None,
                        True,
                        f"group {name}, gated in the baseline, is missing now (renamed or removed)",
                        group=name,
                    )
                )
            continue
        if _gated(old) and not _gated(new):
            found.append(
                SettingChange(
                    "gated",
                    True,
                    False,
                    True,
                    f"group {name} is no longer gated (threshold {_n(old.get('threshold'))}"
                    " → none)",
                    group=name,
                )
            )
            continue
        for key, label, relaxing in _GROUP_SETTINGS:
            old_value, new_value = _number(old.get(key)), _number(new.get(key))
            if old_value == new_value or (old_value is None and new_value is None):
                continue
            if old_value is None or new_value is None:
                relaxed = new_value is None
                text = (
                    f"{label} of {name} removed ({_n(old_value)} → none)"
                    if relaxed
                    else f"{label} of {name} set (none → {_n(new_value)})"
                )
            else:
                relaxed = new_value < old_value if relaxing == "lower" else new_value > old_value
                direction = "lowered" if new_value < old_value else "raised"
                text = f"{label} of {name} {direction} {_n(old_value)} → {_n(new_value)}"
            found.append(SettingChange(key, old_value, new_value, relaxed, text, group=name))
    return found


def _store_change(before: object, now: str | None) -> SettingChange | None:
    old = before if isinstance(before, str) else None
    if old == now:
        return None
    if now is None:
        text = f"the store's signatures are no longer checked (the baseline checked {old})"
        return SettingChange("store_public_key", old, None, True, text)
    if old is None:
        text = f"the store's signatures are checked now ({now})"
        return SettingChange("store_public_key", None, now, False, text)
    text = f"the store's public key changed {old} → {now}"
    return SettingChange("store_public_key", old, now, True, text)


def _case_changes(changes: Changes, baseline_cases: object, current: CurrentRun) -> None:
    ran_before: dict[str, None] = {}
    for case in baseline_cases if isinstance(baseline_cases, list) else ():
        if isinstance(case, Mapping) and isinstance(case.get("nodeid"), str):
            ran_before.setdefault(case["nodeid"], None)
    ran_now = set(current.cases)
    for nodeid in ran_before:
        if nodeid in ran_now:
            continue
        how = current.not_run.get(nodeid)
        if how == "xfailed":
            changes.xfailed.append(nodeid)
        elif how == "skipped":
            changes.skipped.append(nodeid)
        else:
            changes.removed.append(nodeid)
    changes.added = [nodeid for nodeid in dict.fromkeys(current.cases) if nodeid not in ran_before]


def _answer_changes(changes: Changes, baseline_answers: object, current: CurrentRun) -> None:
    if not isinstance(baseline_answers, Mapping):
        return
    compared = 0
    differ: list[str] = []
    for key, digest in current.answers.items():
        before = baseline_answers.get(key)
        if not isinstance(before, str):
            continue
        compared += 1
        if before != digest:
            owner = current.answer_cases.get(key)
            differ.append(f"{owner} ({key})" if owner else key)
    changes.answers_compared = compared
    changes.answers_differ = sorted(differ)


def _groups(groups: object) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for group in groups if isinstance(groups, list) else ():
        if isinstance(group, Mapping) and isinstance(group.get("name"), str):
            found[group["name"]] = group
    return found


def _gated(group: Mapping[str, Any]) -> bool:
    """As `gate.is_gated`, on a group as the JSON report has it."""
    return group.get("threshold") is not None or group.get("kind") == "safety"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _n(value: object) -> str:
    number = _number(value)
    return "none" if number is None else f"{number:g}"


def _cases(count: int) -> str:
    return f"{count} eval case{'' if count == 1 else 's'}"


def _listed(items: Iterable[str], every: bool) -> str:
    items = list(items)
    if every or len(items) <= SHOWN:
        return ", ".join(items)
    return ", ".join(items[:SHOWN]) + f" and {len(items) - SHOWN} more"
