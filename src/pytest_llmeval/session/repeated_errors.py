"""One error, said once: the pytest lines of cases that failed with the same infrastructure
error point to the first of them, which says how many there were."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_llmeval.errors import NO_API_KEY

# What a case without a key says: the header line said it before any case ran, and the gate
# report says it with the count, so the case's own lines need not say it again.
_NO_KEY_LINE = "no API key: every call to Mistral's API fails, as the llmeval header line says"


class RepeatedErrors:
    """The reports of eval cases that ended in an infrastructure error, gathered as they
    arrive (on the controller) and rewritten once at the end of the session, before pytest
    writes its ERRORS and FAILURES sections and its short summary.

    Only one-line reports are rewritten (the default `--tb`, no `-v`): with `-v` or
    `--tb=long` every case keeps its own chain.
    """

    def __init__(self) -> None:
        self._by_message: dict[tuple[str, str], list[Any]] = {}

    def add(self, report: Any, record: Mapping[str, Any]) -> None:
        if not record.get("infrastructure") or not isinstance(report.longrepr, str):
            return
        key = (str(record.get("error_type") or "Error"), str(record.get("message") or ""))
        self._by_message.setdefault(key, []).append(report)

    def rewrite(self) -> None:
        for (error_type, message), reports in self._by_message.items():
            reports.sort(key=lambda report: report.nodeid)
            first, rest = reports[0], reports[1:]
            count = f" (the same for {len(reports)} cases)" if rest else ""
            if message == NO_API_KEY:
                first.longrepr = f"{error_type}: {_NO_KEY_LINE}{count}"
            elif rest:
                first.longrepr = f"{first.longrepr}{count}"
            for report in rest:
                report.longrepr = f"{error_type}: the same as {first.nodeid}"
