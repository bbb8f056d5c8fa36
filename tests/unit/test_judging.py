"""The judge's and moderation's pure parts: kappa, calibration, schemas, thresholds, scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.data.datasets import cases
from pytest_llmeval.errors import DatasetError
from pytest_llmeval.grading.judge import policy_schema, preference_schema
from pytest_llmeval.grading.moderation import ModerationResult
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.model import RunInfo
from pytest_llmeval.report.render import TerminalView, markdown, terminal_lines
from pytest_llmeval.report.stats import cohen_kappa
from pytest_llmeval.simulator.script import load_script, moderation_result
from pytest_llmeval.strict_json import parse_json
from tests.factories import case_record, gate_settings

RUN = RunInfo(model="ft:open-mistral-7b:587a6b29:20240514:7e773925", started="2024-05-14T09:30:00Z")


def test_kappa_matches_a_hand_computation() -> None:
    # Two raters, 10 items, labels yes/no: 4 yes-yes, 2 yes-no, 1 no-yes, 3 no-no.
    # p_o = 7/10; first says yes 6 times, second 5 times: p_e = .6*.5 + .4*.5 = .5;
    # kappa = (.7 - .5) / (1 - .5) = .4.
    pairs = [(1, 1)] * 4 + [(1, 0)] * 2 + [(0, 1)] + [(0, 0)] * 3
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([(3, 3), (4, 4)]) == pytest.approx(1.0)
    assert cohen_kappa([(1, 2), (2, 1)]) == pytest.approx(-1.0)


def test_kappa_is_undefined_without_pairs_or_when_chance_agrees_on_everything() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([(4, 4), (4, 4)]) is None


def judged(index: int, human: float | None, *scores: float, **fields: Any) -> dict[str, Any]:
    return case_record(
        index, "helpfulness", kind="judge", human_score=human, judge_scores=list(scores), **fields
    )


def test_calibration_pairs_each_judge_score_with_the_cases_human_score() -> None:
    records = [
        judged(0, 5, 5),
        judged(1, 4, 3),
        judged(2, 3, 3, 2),  # two judge scores: two pairs
        judged(3, None, 1),  # not labelled
        judged(4, 2),  # labelled, never judged
    ]
    group = build_report(records, RUN, gate_settings()).groups[0]
    assert group.calibration is not None
    assert (group.calibration.labelled, group.calibration.agreed) == (4, 2)
    assert group.calibration.agreement == 0.5
    # Humans 5,4,3,3 and judge 5,3,3,2: p_o = 2/4; by label 5: 1*1, 4: 1*0, 3: 2*2,
    # 2: 0*1, so p_e = 5/16; kappa = (8/16 - 5/16) / (11/16) = 3/11.
    assert group.calibration.kappa == pytest.approx(3 / 11)
    assert group.score_distribution == {"1": 1, "2": 1, "3": 2, "5": 1}


def test_a_judge_group_without_labels_has_no_calibration_and_other_groups_no_judge_keys() -> None:
    records = [judged(0, None, 4), case_record(1, "triage")]
    report = build_report(records, RUN, gate_settings()).to_dict()
    by_name = {group["name"]: group for group in report["groups"]}
    assert by_name["helpfulness"]["calibration"] is None
    assert by_name["helpfulness"]["position_bias"] == 0
    assert [by_name["triage"][key] for key in ("calibration", "position_bias")] == [None, None]


def test_position_bias_and_judge_format_are_summed_and_rendered() -> None:
    records = [
        judged(0, 5, 5, comparisons=2, position_bias=1, judge_checks=["valid", "valid"]),
        judged(1, 3, 4, comparisons=1, position_bias=0, judge_checks=["no_json_start", "valid"]),
    ]
    report = build_report(records, RUN, gate_settings())
    assert (report.groups[0].comparisons, report.groups[0].position_bias) == (3, 1)
    assert report.to_dict()["judge_format"] == {
        "checked": 4,
        "valid": 3,
        "categories": {"no_json_start": 1},
    }
    lines = terminal_lines(report, TerminalView(width=200))
    # Humans 5, 3 and judge 5, 4: p_o = 1/2, p_e = 1/4 (only 5 is shared), kappa = 1/3.
    assert "helpfulness: judge agrees with humans on 1 of 2 labelled cases, kappa 0.33" in lines
    assert "helpfulness: position bias in 1 of 3 comparisons (the two orders disagreed: a tie)" in (
        lines
    )
    assert "helpfulness: judge scores 4: 1, 5: 1" in lines
    assert "judge agrees with humans on 1 of 2 labelled cases" in markdown(report)


def test_policy_answers_must_judge_every_rule_once_in_order() -> None:
    schema = policy_schema(2)

    def answer(*numbers: int) -> str:
        rules = [{"rule": n, "passed": True, "reasoning": "ok"} for n in numbers]
        return json.dumps({"rules": rules})

    assert parse_json(answer(1, 2), schema).ok
    assert parse_json(answer(2, 1), schema).category == "enum_violation"
    assert parse_json(answer(1), schema).category == "length_violation"
    assert parse_json(answer(1, 2, 2), schema).category == "length_violation"
    broken = '{"rules": [{"rule": 1, "passed": "yes", "reasoning": "ok"}, {"rule": 2}]}'
    assert not parse_json(broken, schema).ok


def test_a_preference_names_a_position_or_a_tie() -> None:
    schema = preference_schema()
    assert parse_json('{"reasoning": "r", "winner": "tie"}', schema).ok
    assert parse_json('{"reasoning": "r", "winner": "a"}', schema).category == "enum_violation"


def test_thresholds_decide_the_categories_they_name_and_leave_the_others_to_the_api() -> None:
    finding = ModerationResult(
        categories={"pii": False, "health": True, "never_seen": False, "other": True},
        category_scores={"pii": 0.45, "health": 0.3, "never_seen": 0.2, "other": 0.9},
    )
    thresholded = finding.with_thresholds({"pii": 0.45, "health": 0.5, "absent": 0.1})
    assert thresholded.flagged_categories == ["pii", "other"]
    assert "absent" not in thresholded.categories
    scored_only = ModerationResult(categories={}, category_scores={"fresh_name": 0.7})
    assert scored_only.with_thresholds({"fresh_name": 0.7}).flagged_categories == ["fresh_name"]


def test_simulator_moderation_rules_script_scores_of_any_category() -> None:
    rule = load_script([{"endpoint": "moderation", "flag": ["x_new"], "scores": {"pii": 0.4}}])
    result = moderation_result(rule.rules[0])
    assert result["categories"]["x_new"] is True and result["categories"]["pii"] is False
    assert (result["category_scores"]["x_new"], result["category_scores"]["pii"]) == (0.9, 0.4)
    with pytest.raises(ValueError, match="rule 1: 'scores' must map category names"):
        load_script([{"endpoint": "moderation", "scores": {"pii": 2}}])
    with pytest.raises(ValueError, match="'scores' answers moderation requests"):
        load_script([{"scores": {"pii": 0.5}}])


def test_a_human_score_that_is_not_a_number_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    path.write_text(
        '{"input": "a", "human_score": 4}\n{"input": "b", "human_score": "good"}\n',
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match=r'labelled.jsonl:2: "human_score" is a string'):
        cases(path)
    path.write_text('{"input": "a", "human_score": 4}\n{"input": "b"}\n', encoding="utf-8")
    assert [case.human_score for case in cases(path)] == [4.0, None]
