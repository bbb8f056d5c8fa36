"""An eval run against training data: contaminated cases and system-prompt drift."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pytest_llmeval.improvement.contamination import prompt_drift, scan_training, short_diff

SYSTEM = "You triage support tickets.\nAnswer with JSON only.\nUse priority 1 to 5."


def _row(user: str, system: str | None = SYSTEM) -> str:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": "{}"}]
    return json.dumps({"messages": messages})


def test_contaminated_cases_are_found_exactly_and_by_overlap(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    long_text = " ".join(f"word{n}" for n in range(40))
    train.write_text(
        "\n".join(
            [
                _row("My printer is ON FIRE!!"),
                "not json",
                _row(long_text + " and a different ending here"),
                _row("Something unrelated", system="Another template"),
            ]
        )
        + "\n"
    )
    prompts = {
        "t.py::case[clean]": "The login page is slow",
        "t.py::case[exact]": "my printer is on fire",
        "t.py::case[near]": long_text,
    }

    scan = scan_training(train, prompts)

    assert scan.contaminated == ["t.py::case[exact]", "t.py::case[near]"]
    assert scan.system_prompts == Counter({SYSTEM: 2, "Another template": 1})
    assert scan.unreadable_lines == 1


def test_a_drifted_system_prompt_is_paired_with_the_closest_training_one() -> None:
    drifted = SYSTEM.replace("JSON only", "JSON")
    training = Counter({SYSTEM: 10, "Another template": 1})

    (drift,) = prompt_drift([SYSTEM, drifted, drifted], training)

    assert drift["eval"] == drifted
    assert drift["train"] == SYSTEM
    assert drift["diff"] == "-Answer with JSON only.\n+Answer with JSON."


def test_no_system_prompt_against_training_with_one_is_drift_too() -> None:
    (drift,) = prompt_drift([""], Counter({SYSTEM: 3, "rare": 1}))
    assert drift["train"] == SYSTEM
    assert prompt_drift([""], Counter()) == []
    assert prompt_drift(["new"], Counter())[0]["diff"] == "+new"


def test_a_long_diff_is_cut_to_a_dozen_lines() -> None:
    old = "\n".join(f"line {n}" for n in range(30))
    new = "\n".join(f"LINE {n}" for n in range(30))
    lines = short_diff(old, new).splitlines()
    assert len(lines) == 13
    assert lines[-1] == "... and 48 more changed lines"


def test_a_prompt_for_a_task_training_never_had_is_not_drift() -> None:
    training = Counter({SYSTEM: 10})
    other_task = "You write handover notes for the next shift, in three short bullet points."
    assert prompt_drift([other_task], training) == []
