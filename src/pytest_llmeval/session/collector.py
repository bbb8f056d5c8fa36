"""The controller-only plugin: collects case records, writes the report, sets the exit status."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_llmeval import __version__
from pytest_llmeval.errors import BaselineError
from pytest_llmeval.improvement import LAST_PASSED
from pytest_llmeval.replay.record_mode import RecordMode
from pytest_llmeval.session.census import (
    BATCH_WORKEROUTPUT_KEY,
    CASE_ATTRIBUTE,
    FIRST_CHECK_KEY,
    NOT_COUNTED_ATTRIBUTE,
    WORKEROUTPUT_KEY,
    EvalCensus,
    StopEvidence,
    skip_reason,
    stop_text,
)
from pytest_llmeval.session.options import NO_MODEL, Settings
from pytest_llmeval.session.outputs import RunOutputs
from pytest_llmeval.session.record_spool import RecordSpool
from pytest_llmeval.session.repeated_errors import RepeatedErrors
from pytest_llmeval.support.paths import shown_path

if TYPE_CHECKING:
    # The report machinery is imported when the session ends with records, not with pytest.
    from pytest_llmeval.case_record import CaseRecord, NotCountedRecord
    from pytest_llmeval.report.model import DataSummary, Report

COLLECTOR_NAME = "llmeval-collector"
MISTRAL_API_URL = "https://api.mistral.ai"  # where the SDK sends calls without a server URL


def exit_status(
    pytest_status: int,
    *,
    gate_passed: bool,
    other_failures: int,
    failed_cases: bool,
    strict_cases: bool,
) -> int:
    """The exit status of a session that ran eval cases.

    pytest's own when it is neither 0 nor 1 (interrupted, a usage error, no tests), except
    that a run with no test to run (every eval case deselected) is 1 when the gate blocks;
    else 1 when an ordinary test failed, the gate blocks, or with `--llm-strict-cases` an
    eval case did not pass; else 0.
    """
    if pytest_status == pytest.ExitCode.NO_TESTS_COLLECTED and not gate_passed:
        return pytest.ExitCode.TESTS_FAILED
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
        model_card: Callable[[str], Mapping[str, Any]] | None = None,
        census: EvalCensus | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.started = started
        self._clock = clock
        self._started_at = clock()
        self._scrub = scrub
        # On disk while the session runs (`RecordSpool`): a case's record is read back to
        # build the report, and then only what the report keeps of it stays in memory.
        self.records = RecordSpool()
        self.not_counted: list[NotCountedRecord] = []  # skipped and xfailed eval cases
        self.other_failures = 0
        self.verdict_status: int | None = None  # the verdict's, once the session has finished
        self.report: Report | None = None
        self._order: dict[str, int] = {}
        self._model_card = model_card
        self.outputs = RunOutputs(config, settings, scrub)
        self.baseline_path = self._baseline_path()
        self.baseline = self._load_baseline()
        self._check_train_data()
        # Completeness: the eval cases selected (filled by this process's collection, or by
        # the workers' under xdist), the node ids that reported an outcome or a skip, and
        # what the session said about stopping early.
        self.census = census if census is not None else EvalCensus()
        self._collection: list[str] = []
        self.accounted: set[str] = set()
        self.skipped_no_model = 0
        # Cases that reported a skip or an xfail (node id -> "skipped" | "xfailed"): the
        # `changes` against the baseline name those the baseline ran.
        self.not_run_cases: dict[str, str] = {}
        self.stop = StopEvidence(maxfail=int(config.getoption("maxfail", 0) or 0))
        self._warning: str | None = None
        self.batch: dict[str, Any] | None = None  # --llm-batch: `run.batch`
        # The first check's line when a model id is not served (an xdist worker's); pytest's
        # tally of the eval cases, to reconcile with the gate's; errors said once.
        self.first_check_problem: str | None = None
        self.tally: dict[str, int] = {"failed": 0, "errors": 0}
        self.repeated = RepeatedErrors()

    # -- hooks ---------------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.set_order(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.set_order(ids)
        if not self._collection:
            self._collection = list(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {})
        self.census.merge(output.get(WORKEROUTPUT_KEY), self._collection)
        self.add_batch(output.get(BATCH_WORKEROUTPUT_KEY))
        self.first_check_problem = self.first_check_problem or output.get(FIRST_CHECK_KEY)
        if error and error != "keyboard-interrupt":  # that one is an interrupt, not a crash
            worker = getattr(getattr(node, "gateway", None), "id", "worker")
            self.stop.crashed_workers.append(f"{worker}: {error}")

    def add_batch(self, summary: object) -> None:
        """`--llm-batch`'s summary, from this process or a worker: the one that sent the job
        (under xdist the other workers found its answers recorded and sent none)."""
        if isinstance(summary, dict) and (
            self.batch is None or (summary.get("requests") or 0) > (self.batch.get("requests") or 0)
        ):
            self.batch = dict(summary)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        error = excinfo.value
        if isinstance(error, pytest.exit.Exception):
            self.stop.exit_message = str(error.msg)
        else:
            self.stop.interrupt = str(error)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.add(report)

    # A wrapper, tryfirst: the report is built before every other plugin's sessionfinish
    # (junitxml's writes the file the verdict's properties go into), and once they all ran,
    # a status one of them lowered to 0 (a conftest's `session.exitstatus = 0`) is put back:
    # the exit status is the gate's.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        self.stop.should_fail = stop_text(session.shouldfail)
        self.stop.should_stop = stop_text(session.shouldstop)
        self.repeated.rewrite()
        self.verdict_status = session.exitstatus = self.finish(int(session.exitstatus))
        try:
            return (yield)
        finally:
            lowered = self.verdict_status != pytest.ExitCode.OK and session.exitstatus == 0
            if self.report is not None and lowered:
                session.exitstatus = self.verdict_status

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.first_check_problem is not None:  # as pytest says a usage error
            terminalreporter.write_line(f"ERROR: {self.first_check_problem}", red=True)
        if self._warning is not None:
            terminalreporter.write_line(
                self._scrub(f"llmeval: warning: {self._warning}"), yellow=True
            )
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
        for problem in self.outputs.problems:
            terminalreporter.write_line(self._scrub(f"llmeval: {problem}"), red=True)

    # -- the work ------------------------------------------------------------------------------

    @property
    def suite(self) -> str:
        """What names this suite in the ledger: the test paths the run was given."""
        from pytest_llmeval.improvement.ledger import suite_of

        return suite_of(list(self.config.args), self.config.rootpath)

    def _baseline_path(self) -> Path | None:
        """`--llm-baseline`, or with `ledger:last-passed` the report of the newest passing run
        of this suite in the ledger."""
        settings = self.settings
        if not settings.baseline_from_ledger:
            return settings.baseline
        if settings.ledger is None:
            raise pytest.UsageError(
                f"--llm-baseline={LAST_PASSED} reads the ledger, which --llm-ledger=none "
                "turns off; give --llm-ledger=PATH or --llm-baseline=PATH to a report"
            )
        from pytest_llmeval.improvement.ledger import LedgerError, last_passed

        try:
            root = self.config.rootpath
            shown = shown_path(settings.ledger, root)
            return last_passed(settings.ledger, self.suite, root, shown)
        except LedgerError as error:
            raise pytest.UsageError(f"--llm-baseline: {error}") from None

    def _check_train_data(self) -> None:
        """At start-up, so a mistyped path costs no model calls."""
        path = self.settings.train_data
        if path is not None and not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise pytest.UsageError(
                f"--llm-train-data: {path} {what}; give the fine-tuning JSONL file"
            )

    def _load_baseline(self) -> dict[str, Any] | None:
        """Read at start-up, so an unusable baseline costs no model calls."""
        path = self.baseline_path
        if path is None:
            return None
        from pytest_llmeval.report.baseline import load_baseline

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
            self.records.append(cast("CaseRecord", record))
            # pytest keeps every report to the end of the session: the spool holds the record.
            delattr(report, CASE_ATTRIBUTE)
            if report.failed:
                self.tally["failed" if report.when == "call" else "errors"] += 1
                self.repeated.add(report, record)
        elif report.failed:
            self.other_failures += 1
        not_counted = getattr(report, NOT_COUNTED_ATTRIBUTE, None)
        if isinstance(not_counted, dict):
            self.not_counted.append(cast("NotCountedRecord", not_counted))
        # A case has run once its call phase reported, or its setup ended it (a skip or an
        # error); xdist reports a crashed worker's case with when="???", so that one has not.
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.accounted.add(report.nodeid)
            if report.skipped and skip_reason(report) == NO_MODEL:
                self.skipped_no_model += 1
        if not isinstance(record, dict) and report.when in ("setup", "call"):
            if hasattr(report, "wasxfail"):
                self.not_run_cases[report.nodeid] = "xfailed"
            elif report.skipped:
                self.not_run_cases[report.nodeid] = "skipped"

    def model_required(self) -> bool:
        """In CI or a replay-only run, eval cases skipped for want of a model block the gate."""
        return self.settings.ci or self.settings.record_mode is RecordMode.NONE

    def finish(self, pytest_status: int) -> int:
        """Builds and writes the report; returns the session's exit status."""
        if self.first_check_problem is not None:
            return pytest.ExitCode.USAGE_ERROR
        if pytest_status == pytest.ExitCode.USAGE_ERROR:  # the first check stopped the run
            return pytest_status
        option = self.config.option
        planned_only = any(
            getattr(option, name, False) for name in ("collectonly", "setuponly", "setupplan")
        )
        # --collect-only and --setup-plan run no case by design: nothing is missing.
        not_run = 0 if planned_only else self.census.not_run(self.accounted)
        required = self.model_required()
        if self.skipped_no_model and not required:
            from pytest_llmeval.report.wording import no_model_sentence

            self._warning = no_model_sentence(self.skipped_no_model)
        dropped = self.baseline is not None and bool(self.not_run_cases)
        census = self.census
        ran_none = bool(census.collected_count) and not self.records and not planned_only
        if not (
            self.records
            or not_run
            or (self.skipped_no_model and required)
            or dropped
            # A run that collected eval cases and ran none (every one skipped, xfailed,
            # deselected or dropped by a hook) still reports, and blocks; one skipped for
            # want of a model outside CI is the no-model warning's.
            or (ran_none and not (self.skipped_no_model and not required))
        ):
            return pytest_status
        from pytest_llmeval.report.build import build_report
        from pytest_llmeval.report.changes import ChangePolicy
        from pytest_llmeval.report.model import RunInfo, utc_timestamp
        from pytest_llmeval.report.pricing import shipped_table
        from pytest_llmeval.report.review import ChangeInputs

        settings, config = self.settings, self.config
        from pytest_llmeval.improvement.run_facts import model_identities

        models, warnings = model_identities(
            self.records,
            {
                "model": settings.model,
                "judge": settings.judge_model,
                "moderation": settings.moderation_model,
            },
            self._model_card or _no_cards,
        )
        run = RunInfo(
            models=dict(models),
            warnings=[self._scrub(warning) for warning in warnings],
            model=settings.model,
            judge_model=settings.judge_model,
            moderation_model=settings.moderation_model,
            started=utc_timestamp(self.started),
            duration_s=round(self._clock() - self._started_at, 3),
            record_mode=settings.record_mode.value,
            plugin_version=__version__,
            workers=_xdist_workers(config),
            repeat=settings.repeat,
            eval_cases=None if census.selected is None else len(census.selected),
            deselected=census.deselected,
            collected=census.collected_count,
            removed_cases=list(census.removed),
            live_server=self._live_server(),
            extra={"ci_ignored": list(settings.ci_ignored)} if settings.ci_ignored else {},
            not_run=not_run,
            stop_reason=self.stop.reason() if not_run else None,
            skipped_no_model=self.skipped_no_model,
            model_required=required,
            store_key=_store_key_id(settings.store_public_key),
            shard=None if settings.shard is None else _shard_dict(settings.shard),
            suite=self.census.suite,
            batch=self.batch,
            subset=self._subset_reasons(not_run),
            pytest_tally=dict(self.tally),
        )
        extra = [
            rule for rules in config.hook.pytest_llmeval_gate_rules(config=config) for rule in rules
        ]
        unknown = len(self._order)
        records = self.records.ordered(lambda nodeid: self._order.get(nodeid, unknown))
        not_counted = sorted(self.not_counted, key=lambda r: self._order.get(r["nodeid"], unknown))
        self.report = build_report(
            records,
            run,
            settings.gate,
            baseline=self.baseline,
            baseline_source=(
                shown_path(self.baseline_path, config.rootpath) if self.baseline_path else None
            ),
            extra_rules=extra,
            interrupted=pytest_status == pytest.ExitCode.INTERRUPTED,
            data=self._training_data(records),
            prices=settings.prices if settings.prices is not None else shipped_table(),
            changes=ChangeInputs(
                self.not_run_cases,
                ChangePolicy(
                    enforced=settings.ci,
                    allow_skips=settings.allow_skips,
                    allow_relaxed=settings.allow_relaxed,
                ),
            ),
            keep_records=settings.shard is not None,
            not_counted=not_counted,
        )
        gate_passed = self.report.gate.passed  # decide()'s, whatever a hook does next
        self._call_report_hook(self.report)
        self.outputs.write_all(self.report, records, self.suite, self.baseline)
        if self.records.problem is not None:
            self.outputs.notes.append(f"llmeval: {self.records.problem}")
        self.records.close()
        return exit_status(
            pytest_status,
            gate_passed=gate_passed,
            other_failures=self.other_failures,
            failed_cases=self.records.not_passed > 0,
            strict_cases=settings.strict_cases,
        )

    def _subset_reasons(self, not_run: int) -> list[str]:
        """Why this run is a subset run (empty: complete), see `session/completeness.py`."""
        from pytest_llmeval.session.completeness import subset_reasons

        config = self.config
        lf_plugin = config.pluginmanager.get_plugin("lfplugin")
        # --lf narrows the run only when there were failures to rerun (pytest's LFPlugin
        # keeps them in `lastfailed`); without the attribute, --lf alone counts.
        last_failed = bool(config.getoption("lf", False)) and bool(
            getattr(lf_plugin, "lastfailed", True)
        )
        stepwise = bool(config.getoption("stepwise", False)) or bool(
            config.getoption("stepwise_skip", False)
        )
        shard = config.getoption("llm_shard", None)
        return subset_reasons(
            deselected=self.census.deselected,
            not_run=not_run,
            stop_reason=self.stop.reason() if not_run else None,
            last_failed=last_failed,
            stepwise=stepwise,
            shard=str(shard) if shard else None,
        )

    def _call_report_hook(self, report: Report) -> None:
        """`pytest_llmeval_report` with a read-only view of the report: the verdict is the
        gate rules' alone. A hook that raises (one that tried to change the report) is named
        in the output; the verdict and the files stand."""
        from pytest_llmeval.report.read_only import read_only

        try:
            self.config.hook.pytest_llmeval_report(config=self.config, report=read_only(report))
        except Exception as error:
            self.outputs.problems.append(
                self._scrub(
                    f"the pytest_llmeval_report hook raised {type(error).__name__}: {error};"
                    " the verdict stands"
                )
            )

    def _live_server(self) -> str | None:
        """Under CI, the server live calls go to when the record mode makes any; else None."""
        if not self.settings.ci or self.settings.record_mode is RecordMode.NONE:
            return None
        from pytest_llmeval.improvement.run_facts import shown_server

        return self._scrub(shown_server(self.settings.server_url) or MISTRAL_API_URL)

    def _training_data(self, records: Iterable[CaseRecord]) -> DataSummary | None:
        path = self.settings.train_data
        if path is None:
            return None
        from pytest_llmeval.improvement.run_facts import training_data

        shown = shown_path(path, self.config.rootpath)
        return training_data(path, shown, records, self.settings.max_contaminated)

    def terminal_lines(
        self,
        *,
        width: int = 80,
        verbosity: int = 0,
        colour: Callable[[str, str], str] | None = None,
    ) -> list[str]:
        if self.report is None:
            return []
        from pytest_llmeval.report.render import TerminalView, terminal_lines

        view = TerminalView(width, verbosity, colour) if colour else TerminalView(width, verbosity)
        lines = [self._scrub(line) for line in terminal_lines(self.report, view)]
        return lines + [self._scrub(note) for note in self.outputs.notes]


def _store_key_id(public_key: str | None) -> str | None:
    if not public_key:
        return None
    from pytest_llmeval.replay.signing import public_key_id

    return public_key_id(public_key)


def _shard_dict(shard: tuple[int, int]) -> dict[str, int]:
    """`run.shard` of `--llm-shard=K/N`: `{"index": K, "count": N}`."""
    return {"index": shard[0], "count": shard[1]}


def _no_cards(model_id: str) -> Mapping[str, Any]:
    raise LookupError("no endpoint to read model cards from")


def _xdist_workers(config: pytest.Config) -> int | None:
    workers = getattr(config.option, "numprocesses", None)
    return workers if isinstance(workers, int) and workers > 0 else None
