"""A misspelt ini key of the plugin gets "did you mean", as a misspelt marker argument does."""

from __future__ import annotations

from pathlib import Path

from pytest_llmeval.session.ini_keys import ini_file_keys, misspelt_keys

OURS = ["llm_concurrency", "llm_model", "llm_store"]


def test_a_key_close_to_ours_is_named_with_the_right_one() -> None:
    known = {"llm_model", "llm_store", "llm_concurrency", "llm_other_plugin_key"}.__contains__
    given = ["llm_concurency", "llm_model", "llm_other_plugin_key", "llm_totally_else", "addopts"]
    assert misspelt_keys(given, known, OURS) == [
        "llm_concurency is not an ini key of pytest-llmeval (did you mean 'llm_concurrency'?)"
    ]


def test_the_keys_of_the_pytest_section_are_read_from_each_kind_of_file(tmp_path: Path) -> None:
    ini = tmp_path / "tox.ini"
    ini.write_text("[tox]\nllm_x = 1\n[pytest]\naddopts = -q\n  --tb=short\nllm_concurency = 4\n")
    assert ini_file_keys(ini) == ["addopts", "llm_concurency"]
    toml = tmp_path / "pyproject.toml"
    toml.write_text('[project]\nname = "x"\n[tool.pytest.ini_options]\nllm_modle = "m"\n')
    assert ini_file_keys(toml) == ["llm_modle"]
    assert ini_file_keys(tmp_path / "missing.ini") == []
