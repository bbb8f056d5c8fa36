"""The packages' public names, imported on first access and never out of step with sys.modules."""

from __future__ import annotations

import sys

import pytest

import pytest_llmeval
import pytest_llmeval.data.datasets
from pytest_llmeval import replay, report


def test_public_names_are_the_objects_of_their_modules() -> None:
    assert pytest_llmeval.cases is pytest_llmeval.data.datasets.cases
    assert replay.ReplayStore.__module__ == "pytest_llmeval.replay.store"
    assert report.Report.__module__ == "pytest_llmeval.report.model"


def test_a_module_imported_again_gives_its_new_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester's in-process runs drop the modules a run imported: the next run's
    `from pytest_llmeval import Case` must be the class that run's datasets module defines."""
    first = pytest_llmeval.data.datasets.Case
    # Both restored afterwards: the import below sets the package's attribute too.
    monkeypatch.setattr(pytest_llmeval.data, "datasets", pytest_llmeval.data.datasets)
    monkeypatch.delitem(sys.modules, "pytest_llmeval.data.datasets")
    again = pytest_llmeval.Case
    assert again is sys.modules["pytest_llmeval.data.datasets"].Case
    assert again is not first


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Cases'"):
        _ = pytest_llmeval.Cases  # type: ignore[attr-defined]
