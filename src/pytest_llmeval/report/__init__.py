"""The gate report: its data model, figures, verdicts, baseline reading and renderings.

`model` holds the dataclasses; `build` computes the figures from case records and hands the
report to `gate.decide`, which sets every verdict; `render` writes it for the terminal, as
Markdown and as JSON; `baseline` reads an earlier run's JSON report. Imports run one way
(model <- gate <- build; render -> model); the submodules never import from this file, which
only names what a conftest.py may want: the report's type, a gate rule's, the JSON Schema.
"""

from .gate import GateRule
from .model import Report, report_schema

__all__ = ["GateRule", "Report", "report_schema"]
