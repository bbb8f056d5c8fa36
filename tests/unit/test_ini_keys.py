"""A misspelt ini key of the plugin gets "did you mean", as a misspelt marker argument does."""

from __future__ import annotations

from pytest_llmeval.session.ini_keys import misspelt_keys

OURS = ["llm_concurrency", "llm_model", "llm_store"]


def test_a_key_close_to_ours_is_named_with_the_right_one() -> None:
    known = {"llm_model", "llm_store", "llm_concurrency", "llm_other_plugin_key"}.__contains__
    given = ["llm_concurency", "llm_model", "llm_other_plugin_key", "llm_totally_else", "addopts"]
    assert misspelt_keys(given, known, OURS) == [
        "llm_concurency is not an ini key of pytest-llmeval (did you mean 'llm_concurrency'?)"
    ]
