"""Tests of the report's `changes`: gate settings, cases and recorded answers against a baseline."""

from __future__ import annotations

from typing import Any

from pytest_llmeval.report.changes import ChangePolicy, CurrentRun, compare

SETTINGS = {"format_threshold": 1.0, "max_errors": 0, "max_drop": 0.05, "alpha": 0.05}


def group(
    name: str, threshold: float | None = None, kind: str = "metric", **more: Any
) -> dict[str, Any]:
    return {"name": name, "kind": kind, "threshold": threshold, **more}


def baseline(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "gate": {"settings": dict(SETTINGS)},
        "groups": [group("gated", 0.5), group("info")],
        "cases": [{"nodeid": f"t.py::test[{index}]", "outcome": "passed"} for index in range(4)],
        "answers": {"k1-0": "aaa", "k2-0": "bbb"},
        "run": {"store_key": None},
    }
    report.update(overrides)
    return report


def current(**overrides: Any) -> CurrentRun:
    fields: dict[str, Any] = {
        "groups": [group("gated", 0.5), group("info")],
        "gate_settings": dict(SETTINGS),
        "cases": [f"t.py::test[{index}]" for index in range(4)],
        "answers": {"k1-0": "aaa", "k2-0": "bbb"},
    }
    fields.update(overrides)
    return CurrentRun(**fields)


def test_nothing_changed_is_empty() -> None:
    changes = compare(baseline(), "main.json", current())
    assert changes.empty
    assert changes.lines() == []
    assert changes.answers_compared == 2


def test_a_lowered_threshold_is_a_relaxed_change_named_as_such() -> None:
    changes = compare(baseline(), None, current(groups=[group("gated", 0.1), group("info")]))
    assert changes.lines() == ["threshold of gated lowered 0.5 → 0.1"]
    assert [change.setting for change in changes.relaxed] == ["threshold"]


def test_a_raised_threshold_is_a_change_that_is_not_relaxed() -> None:
    changes = compare(baseline(), None, current(groups=[group("gated", 0.9), group("info")]))
    assert changes.lines() == ["threshold of gated raised 0.5 → 0.9"]
    assert changes.relaxed == []


def test_a_gated_group_gone_or_ungated_is_relaxed() -> None:
    ungated = compare(baseline(), None, current(groups=[group("gated"), group("info")]))
    assert ungated.lines() == ["group gated is no longer gated (threshold 0.5 → none)"]
    assert len(ungated.relaxed) == 1
    renamed = compare(baseline(), None, current(groups=[group("gated2", 0.5), group("info")]))
    assert renamed.lines() == [
        "group gated, gated in the baseline, is missing now (renamed or removed)"
    ]
    assert len(renamed.relaxed) == 1


def test_an_info_group_gone_is_no_relaxation() -> None:
    changes = compare(baseline(), None, current(groups=[group("gated", 0.5)]))
    assert changes.relaxed == []


def test_session_settings_relax_each_their_own_way() -> None:
    relaxed = {"format_threshold": 0.5, "max_errors": 3, "max_drop": 0.5, "alpha": 0.001}
    changes = compare(baseline(), None, current(gate_settings=relaxed))
    assert changes.lines() == [
        "format threshold lowered 1 → 0.5",
        "max-errors raised 0 → 3",
        "max-drop raised 0.05 → 0.5",
        "alpha lowered 0.05 → 0.001",
    ]
    assert len(changes.relaxed) == 4
    stricter = {"format_threshold": 1.0, "max_errors": 0, "max_drop": 0.01, "alpha": 0.1}
    assert compare(baseline(), None, current(gate_settings=stricter)).relaxed == []


def test_max_unsafe_raised_and_min_score_lowered_are_relaxed() -> None:
    before = baseline(
        groups=[group("safe", None, "safety", max_unsafe=0), group("j", 0.8, "judge", min_score=4)]
    )
    now = current(
        groups=[group("safe", None, "safety", max_unsafe=2), group("j", 0.8, "judge", min_score=2)]
    )
    changes = compare(before, None, now)
    assert changes.lines() == ["max_unsafe of safe raised 0 → 2", "min_score of j lowered 4 → 2"]
    assert len(changes.relaxed) == 2


def test_skipped_xfailed_removed_and_added_cases_are_listed() -> None:
    now = current(
        cases=["t.py::test[0]", "t.py::test[9]"],
        not_run={"t.py::test[1]": "skipped", "t.py::test[2]": "xfailed"},
    )
    changes = compare(baseline(), None, now)
    assert changes.skipped == ["t.py::test[1]"]
    assert changes.xfailed == ["t.py::test[2]"]
    assert changes.removed == ["t.py::test[3]"]
    assert changes.added == ["t.py::test[9]"]
    assert changes.dropped == 3
    assert "1 eval case the baseline ran are skipped now: t.py::test[1]" in changes.lines()


def test_differing_answers_are_counted_and_named_by_case() -> None:
    now = current(
        answers={"k1-0": "zzz", "k2-0": "bbb", "k3-0": "new"},
        answer_cases={"k1-0": "t.py::test[0]"},
    )
    changes = compare(baseline(), "main.json", now)
    assert changes.answers_compared == 2
    assert changes.answers_differ == ["t.py::test[0] (k1-0)"]
    assert changes.lines() == [
        "1 recorded answer differs from the baseline's (2 compared): t.py::test[0] (k1-0)"
    ]


def test_eight_differing_answers_read_in_the_plural() -> None:
    keys = {f"k{index}-0": "old" for index in range(8)}
    changes = compare(baseline(answers=keys), None, current(answers={key: "new" for key in keys}))
    assert changes.lines()[0].startswith("8 recorded answers differ from the baseline's")


def test_the_store_key_turned_off_or_changed_is_relaxed() -> None:
    before = baseline(run={"store_key": "ed25519:aaaa"})
    off = compare(before, None, current(store_key=None))
    assert [change.setting for change in off.relaxed] == ["store_public_key"]
    other = compare(before, None, current(store_key="ed25519:bbbb"))
    assert len(other.relaxed) == 1
    on = compare(baseline(), None, current(store_key="ed25519:aaaa"))
    assert on.relaxed == [] and not on.empty


def test_to_dict_carries_everything_and_the_policy() -> None:
    changes = compare(
        baseline(),
        "main.json",
        current(groups=[group("gated", 0.1), group("info")]),
        ChangePolicy(enforced=True, allow_relaxed=True),
    )
    data = changes.to_dict()
    assert data["baseline"] == "main.json"
    assert data["relaxed"] == 1
    assert data["settings"][0]["text"] == "threshold of gated lowered 0.5 → 0.1"
    assert data["enforced"] and data["allow_relaxed"] and not data["allow_skips"]
    assert set(data["cases"]) == {"added", "removed", "skipped", "xfailed"}


def test_a_hostile_baseline_is_read_defensively() -> None:
    hostile = {"gate": [], "groups": [1, {"name": 3}], "cases": {"a": 1}, "answers": [], "run": 7}
    assert compare(hostile, None, current()).added == [f"t.py::test[{index}]" for index in range(4)]
