"""What a finished run leaves behind, written by the controller: the JSON and Markdown reports,
the step summary, the failure export, the ledger line and the JUnit XML properties."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmeval.session.options import HTML, REPORT, REPORT_MD, Settings
from pytest_llmeval.support.atomic import write_atomic
from pytest_llmeval.support.paths import shown_path

if TYPE_CHECKING:
    from pytest_llmeval.case_record import CaseRecord
    from pytest_llmeval.report.model import Report


class RunOutputs:
    """Each output a setting asks for; one that cannot be written is named in `problems`, and
    the others and the terminal report still follow. `notes` are the lines said after the
    gate report (files written, what was left out)."""

    def __init__(
        self, config: pytest.Config, settings: Settings, scrub: Callable[[str], str]
    ) -> None:
        self.config = config
        self.settings = settings
        self._scrub = scrub
        self.notes: list[str] = []
        self.problems: list[str] = []

    def write_all(
        self,
        report: Report,
        records: Iterable[CaseRecord],
        suite: str,
        baseline: dict[str, Any] | None = None,
    ) -> None:
        self.write_reports(report, baseline)
        self.export_failures(records)
        self.append_ledger(report, records, suite)
        self.add_junit_properties(report)

    def write_reports(self, report: Report, baseline: dict[str, Any] | None = None) -> None:
        """Writes the report files; one that fails is named in `write_problems`, and the
        others and the terminal report still follow. `baseline` is the baseline's report,
        whose outputs the HTML report shows beside this run's."""
        from pytest_llmeval.report.render import json_chunks, markdown

        settings = self.settings
        if settings.html is not None:
            from pytest_llmeval.report.html import html_report

            self._try(
                HTML,
                settings.html,
                lambda path: write_atomic(
                    path, self._scrub(html_report(report, baseline=baseline))
                ),
            )
        text_md: str | None = None
        if settings.report is not None:
            self._try(
                REPORT,
                settings.report,
                lambda path: write_atomic(path, map(self._scrub, json_chunks(report))),
            )
        if settings.report_md is not None:
            text_md = self._scrub(markdown(report))
            self._try(REPORT_MD, settings.report_md, lambda path: write_atomic(path, text_md or ""))
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            html = self._html_location()

            def append(path: Path) -> None:
                text = self._scrub(markdown(report, html=html)) if html else text_md
                with path.open("a", encoding="utf-8") as stream:
                    stream.write((text or self._scrub(markdown(report))) + "\n")

            self._try("$GITHUB_STEP_SUMMARY", Path(summary), append)

    def _html_location(self) -> tuple[str, str | None] | None:
        """For the step summary: the HTML report's path, and in GitHub Actions the address
        of the run's artifacts (docs/ci.md uploads the file as one)."""
        if self.settings.html is None:
            return None
        shown = shown_path(self.settings.html, self.config.rootpath)
        server, repository, run = (
            os.environ.get(name)
            for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
        )
        if server and repository and run:
            return shown, f"{server.rstrip('/')}/{repository}/actions/runs/{run}#artifacts"
        return shown, None

    def _try(self, option: str, path: Path, write: Callable[[Path], object]) -> None:
        try:
            write(path)
        except OSError as error:
            self.problems.append(
                f"{option}={path} could not be written ({type(error).__name__}:"
                f" {error.strerror or error}); the report below is all there is of this run"
            )

    def export_failures(self, records: Iterable[CaseRecord]) -> None:
        path = self.settings.export_failures
        if path is None:
            return
        from pytest_llmeval.improvement.run_facts import hard_case_lines

        text, export = hard_case_lines(records, self._scrub)
        write_atomic(path, text)
        shown = shown_path(path, self.config.rootpath)
        note = f"llmeval: {len(export.rows)} failed cases written to {shown} as fine-tuning rows"
        if export.without_reply:
            note += f" ({len(export.without_reply)} left out: no expected reply to teach)"
        self.notes.append(note)

    def append_ledger(self, report: Report, records: Iterable[CaseRecord], suite: str) -> None:
        settings = self.settings
        if settings.ledger is None:
            return
        from pytest_llmeval.improvement.ledger import append_line, git_state, ledger_entry
        from pytest_llmeval.improvement.run_facts import dataset_hashes, shown_server

        root = self.config.rootpath
        entry = ledger_entry(
            report.to_dict(),
            suite=suite,
            git=git_state(root),
            datasets=dataset_hashes(records, Path.cwd()),
            settings={
                "server": shown_server(settings.server_url),
                "record_mode": settings.record_mode.value,
                "concurrency": settings.concurrency,
                "timeout_s": settings.timeout_s,
                "max_retry_time_s": settings.max_retry_time_s,
                "gate": settings.gate.to_dict(),
                "train_data": (
                    shown_path(settings.train_data, root) if settings.train_data else None
                ),
            },
            report_path=shown_path(settings.report, root) if settings.report else None,
        )
        entry["models"] = report.run.models
        try:
            append_line(settings.ledger, json.loads(self._scrub(json.dumps(entry))))
        except OSError as error:
            self.notes.append(f"llmeval: the ledger {settings.ledger} was not written: {error}")

    def add_junit_properties(self, report: Report) -> None:
        """The verdict and its reasons as `<testsuite>` properties of `--junitxml`: this
        hook runs before junitxml's own sessionfinish writes the file (tryfirst)."""
        from _pytest.junitxml import xml_key  # pytest names the LogXML object no other way

        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        for name, value in junit_gate_properties(report):
            xml.add_global_property(name, self._scrub(value))


def junit_gate_properties(report: Report) -> list[tuple[str, str]]:
    """The gate as JUnit XML properties: `llmeval_gate_verdict` (promote | block),
    `llmeval_gate_passed` (true | false), and `llmeval_gate_reason_1`, `_2`, ... in order."""
    gate = report.gate
    properties = [
        ("llmeval_gate_verdict", gate.verdict),
        ("llmeval_gate_passed", "true" if gate.passed else "false"),
        ("llmeval_gate_reasons", str(len(gate.reasons))),
    ]
    properties += [
        (f"llmeval_gate_reason_{number}", reason) for number, reason in enumerate(gate.reasons, 1)
    ]
    return properties
