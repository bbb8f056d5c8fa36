"""docs/github-actions/llmeval.yml, the CI recipe's workflow: the options it passes exist, it
reports, uploads and compares what docs/ci.md says, and (when a YAML parser is installed) it is a
workflow GitHub can read."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import pytest

from pytest_llmeval.session.options import OPTIONS
from tests.unit.test_docs_markdown import DOCS

WORKFLOW = DOCS / "github-actions" / "llmeval.yml"
RECIPE = DOCS / "ci.md"


def workflow_text() -> str:
    return WORKFLOW.read_text(encoding="utf-8")


def llm_flags(text: str) -> list[str]:
    return re.findall(r"--llm-[a-z-]+", text)


def test_every_option_the_workflow_and_the_recipe_pass_exists() -> None:
    flags = {option.flag for option in OPTIONS}
    used = llm_flags(workflow_text()) + llm_flags(RECIPE.read_text(encoding="utf-8"))
    assert used, "the workflow passes no --llm- option"
    assert sorted(set(used) - flags) == []


def test_the_workflow_replays_without_a_key_and_never_sets_the_record_mode() -> None:
    text = workflow_text()
    # CI=true, which GitHub Actions sets, is what makes the mode `none`: setting it would
    # let a missing recording call the real API (or fail for want of a key).
    assert "--llm-record-mode" not in text
    assert "MISTRAL_API_KEY" not in text and "secrets." not in text


def test_the_report_it_uploads_is_the_baseline_it_downloads() -> None:
    text = workflow_text()
    report = re.search(r"--llm-report=(\S+)", text)
    baseline = re.search(r"--llm-baseline=(\S+?)\"", text)
    assert report and baseline
    artifact = re.findall(r"name: (llmeval-report)|--name (llmeval-report)", text)
    assert len(artifact) == 2, "the artifact uploaded is not the one downloaded"
    folder = re.search(r"--dir ([^\s;]+)", text)
    assert folder and baseline[1] == f"{folder[1]}/{report[1]}"
    assert "--llm-report-md=" in text and "GITHUB_STEP_SUMMARY" in text


@pytest.mark.skipif(importlib.util.find_spec("yaml") is None, reason="no YAML parser installed")
def test_the_workflow_is_a_workflow_with_one_gate_job() -> None:
    import yaml

    workflow: dict[Any, Any] = yaml.safe_load(workflow_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    steps = workflow["jobs"]["llmeval"]["steps"]
    gate = next(step for step in steps if step.get("name") == "Eval gate")
    assert "--llm-report=llmeval.json" in gate["run"]
    upload = next(step for step in steps if "upload-artifact" in step.get("uses", ""))
    assert upload["if"] == "always()"
