"""`llmeval init` writes the simulator workflow's ini block into the file pytest reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmeval.cli import main as llmeval


def test_a_new_pytest_ini_gets_the_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert llmeval(["init", "--dir", str(tmp_path)]) == 0
    text = (tmp_path / "pytest.ini").read_text()
    assert text.startswith("[pytest]\n")
    assert "llm_server_url = http://127.0.0.1:8765\n" in text
    assert "llm_store = .llmeval/simulator-store\n" in text
    assert "llm_model = mistral-small-latest\n" in text
    out = capsys.readouterr().out
    assert "python -m pytest_llmeval.simulator --port 8765" in out


def test_keys_already_set_are_kept_and_other_sections_untouched(tmp_path: Path) -> None:
    ini = tmp_path / "tox.ini"
    ini.write_text("[tox]\nenvlist = py3\n\n[pytest]\nllm_model = ft:x:y:z\n\n[flake8]\nmax = 1\n")
    assert llmeval(["init", "--dir", str(tmp_path), "--port", "9000"]) == 0
    text = ini.read_text()
    assert "llm_model = ft:x:y:z\n" in text and "llm_model = mistral" not in text
    pytest_part = text.split("[pytest]")[1].split("[flake8]")[0]
    assert "llm_server_url = http://127.0.0.1:9000" in pytest_part
    assert text.endswith("[flake8]\nmax = 1\n")
    assert not (tmp_path / "pytest.ini").exists()
    assert llmeval(["init", "--dir", str(tmp_path), "--port", "9000"]) == 0
    assert ini.read_text() == text  # a second run adds nothing


def test_pyproject_gets_toml_strings(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.pytest.ini_options]\n')
    assert llmeval(["init", "--dir", str(tmp_path)]) == 0
    import tomllib

    options = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["pytest"]
    assert options["ini_options"]["llm_store"] == ".llmeval/simulator-store"
