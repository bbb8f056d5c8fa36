"""The controller-only plugin: collects case records, writes the report, sets the exit status."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from . import __version__
from .atomic import write_atomic
from .errors import BaselineError
from .options import Settings
from .paths import shown_path
from .records import CASE_ATTRIBUTE, CaseRecord

if TYPE_CHECKING:
    # The report machinery is imported when the session ends with records, not with pytest.
    from .report.model import Report

COLLECTOR_NAME = "llmeval-collector"


def exit_status(
    pytest_status: int,
    *,
    gate_passed: bool,
    other_failures: int,
    failed_cases: bool,
    strict_cases: bool,
) -> int:
    """The exit status of a session that ran eval cases.

    pytest's own when it is neither 0 nor 1 (interrupted, a usage error, no tests); else 1
    when an ordinary test failed, the gate blocks, or with `--llm-strict-cases` an eval case
    did not pass; else 0.
    """
    if pytest_status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return pytest_status
    if other_failures or not gate_passed or (strict_cases and failed_cases):
        return pytest.ExitCode.TESTS_FAILED
    return pytest.ExitCode.OK


class ReportCollector:
    """Registered on the controller only, under COLLECTOR_NAME: the files and the verdict are
    the controller's. Records arrive on test reports, so the same code serves xdist."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        *,
        started: datetime,
        clock: Callable[[], float],
        scrub: Callable[[str], str],
    ) -> None:
        self.config = config
        self.settings = settings
        self.started = started
        self._clock = clock
        self._started_at = clock()
        self._scrub = scrub
        self.records: list[CaseRecord] = []
        self.other_failures = 0
        self.report: Report | None = None
        self._order: dict[str, int] = {}
        self.baseline = self._load_baseline()

    # -- hooks ---------------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.set_order(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.set_order(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.add(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        session.exitstatus = self.finish(int(session.exitstatus))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        writer = terminalreporter._tw  # pytest's TerminalWriter: its width and its colours
        verbosity = int(self.config.getoption("verbose", 0) or 0)
        lines = self.terminal_lines(
            width=int(writer.fullwidth),
            verbosity=verbosity,
            colour=lambda text, colour: str(writer.markup(text, **{colour: True, "bold": True})),
        )
        if lines:
            if verbosity > -2:  # -qq: the verdict line alone
                terminalreporter.section("llmeval gate report")
            for line in lines:
                terminalreporter.write_line(line)

    # -- the work ------------------------------------------------------------------------------

    def _load_baseline(self) -> dict[str, Any] | None:
        """Read at start-up, so an unusable baseline costs no model calls."""
        path = self.settings.baseline
        if path is None:
            return None
        from .report.baseline import load_baseline

        try:
            return load_baseline(path)
        except BaselineError as error:
            raise pytest.UsageError(f"--llm-baseline: {error}") from None

    def set_order(self, nodeids: Iterable[str]) -> None:
        """Collection order, so the report reads the same with or without xdist."""
        if not self._order:
            self._order = {nodeid: index for index, nodeid in enumerate(nodeids)}

    def add(self, report: pytest.TestReport) -> None:
        record = getattr(report, CASE_ATTRIBUTE, None)
        if isinstance(record, dict):
            self.records.append(cast(CaseRecord, record))
        elif report.failed:
            self.other_failures += 1

    def finish(self, pytest_status: int) -> int:
        """Builds and writes the report; returns the session's exit status."""
        if not self.records:
            return pytest_status
        from .report.build import build_report
        from .report.model import RunInfo, utc_timestamp

        settings, config = self.settings, self.config
        run = RunInfo(
            model=settings.model,
            judge_model=settings.judge_model,
            moderation_model=settings.moderation_model,
            started=utc_timestamp(self.started),
            duration_s=round(self._clock() - self._started_at, 3),
            record_mode=settings.record_mode.value,
            plugin_version=__version__,
            workers=_xdist_workers(config),
        )
        extra = [
            rule for rules in config.hook.pytest_llmeval_gate_rules(config=config) for rule in rules
        ]
        unknown = len(self._order)
        records = sorted(self.records, key=lambda r: self._order.get(r["nodeid"], unknown))
        self.report = build_report(
            records,
            run,
            settings.gate,
            baseline=self.baseline,
            baseline_source=(
                shown_path(settings.baseline, config.rootpath) if settings.baseline else None
            ),
            extra_rules=extra,
            interrupted=pytest_status == pytest.ExitCode.INTERRUPTED,
            prices=settings.prices,
        )
        config.hook.pytest_llmeval_report(config=config, report=self.report)
        self._write(self.report)
        self._add_junit_properties(self.report)
        return exit_status(
            pytest_status,
            gate_passed=self.report.gate.passed,
            other_failures=self.other_failures,
            failed_cases=any(record["outcome"] != "passed" for record in self.records),
            strict_cases=settings.strict_cases,
        )

    def _write(self, report: Report) -> None:
        from .report.render import json_text, markdown

        settings = self.settings
        if settings.report is not None:
            write_atomic(settings.report, self._scrub(json_text(report)))
        text_md: str | None = None
        if settings.report_md is not None:
            text_md = self._scrub(markdown(report))
            write_atomic(settings.report_md, text_md)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with Path(summary).open("a", encoding="utf-8") as stream:
                stream.write((text_md or self._scrub(markdown(report))) + "\n")

    def _add_junit_properties(self, report: Report) -> None:
        """The verdict and its reasons as `<testsuite>` properties of `--junitxml`: this
        hook runs before junitxml's own sessionfinish writes the file (tryfirst)."""
        from _pytest.junitxml import xml_key  # pytest names the LogXML object no other way

        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        for name, value in junit_gate_properties(report):
            xml.add_global_property(name, self._scrub(value))

    def terminal_lines(
        self,
        *,
        width: int = 80,
        verbosity: int = 0,
        colour: Callable[[str, str], str] | None = None,
    ) -> list[str]:
        if self.report is None:
            return []
        from .report.render import TerminalView, terminal_lines

        view = TerminalView(width, verbosity, colour) if colour else TerminalView(width, verbosity)
        return [self._scrub(line) for line in terminal_lines(self.report, view)]


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


def _xdist_workers(config: pytest.Config) -> int | None:
    workers = getattr(config.option, "numprocesses", None)
    return workers if isinstance(workers, int) and workers > 0 else None
