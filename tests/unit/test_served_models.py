"""The first check's pure parts: which roles a suite uses, and the line for an unserved id."""

from __future__ import annotations

from pytest_llmeval.calls.served_models import closest_ids, roles_in_use, unknown_model_line

SERVED = ["mistral-small-latest", "mistral-small-2506", "mistral-large-latest", "open-mistral-7b"]


def test_roles_come_from_the_fixtures_the_cases_use() -> None:
    assert roles_in_use([["llm_reply", "case"], ["llm_json"]]) == ["model"]
    assert roles_in_use([["llm", "llm_moderation"]]) == ["model", "moderation"]
    assert roles_in_use([["llm_judge"], ["llm_reply"]]) == ["model", "judge"]
    assert roles_in_use([["llm_json", "llm_score"]]) == []


def test_the_closest_served_ids_come_first() -> None:
    assert closest_ids("mistral-smal-latest", SERVED)[0] == "mistral-small-latest"
    assert closest_ids("gpt-4o", SERVED) == []


def test_the_line_names_the_option_the_id_and_the_closest_ids_on_one_line() -> None:
    line = unknown_model_line("--llm-model", "mistral-smal-latest", "http://x", SERVED)
    assert "\n" not in line
    assert line.startswith("--llm-model=mistral-smal-latest: http://x does not serve")
    assert "did you mean mistral-small-latest" in line
    assert line.endswith("no case was run")


def test_without_a_model_list_or_a_close_id_the_line_says_so() -> None:
    assert "did you mean" not in unknown_model_line("--llm-model", "zz", "http://x", None)
    far = unknown_model_line("--llm-judge-model", "gpt-4o", "http://x", SERVED)
    assert "none of its 4 models is close" in far
