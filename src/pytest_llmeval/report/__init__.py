"""The gate report: its data model, figures, verdicts, baseline reading and renderings.

`model` holds the dataclasses; `build` computes the figures from case records and hands the
report to `gate.decide`, which sets every verdict; `render` writes it for the terminal, as
Markdown and as JSON; `baseline` reads an earlier run's JSON report. Imports run one way
(model <- gate <- build; render -> model); the submodules never import from this file, which
only names what a conftest.py may want: the report's type, a gate rule's, the JSON Schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmeval.support.lazy import lazy_attributes

if TYPE_CHECKING:
    from pytest_llmeval.report.gate import GateRule
    from pytest_llmeval.report.model import Report, report_schema

# Read on first access: importing any submodule runs this file, and the one a session without
# eval cases may need (`wording`, for a warning) must not bring the gate and renderers along.
_HOMES = {"GateRule": ".gate", "Report": ".model", "report_schema": ".model"}


__getattr__ = lazy_attributes(__name__, _HOMES)


__all__ = ["GateRule", "Report", "report_schema"]
