"""pytest wiring for pytest-llmeval: options, markers, fixtures and hooks, each handing off."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmeval import hookspec
from pytest_llmeval.errors import dataset_error_line
from pytest_llmeval.session import hypothesis_profile, repeat
from pytest_llmeval.session.census import (
    BATCH_WORKEROUTPUT_KEY,
    CASE_ATTRIBUTE,
    FIRST_CHECK_KEY,
    NOT_COUNTED_ATTRIBUTE,
    WORKEROUTPUT_KEY,
    EvalCensus,
)
from pytest_llmeval.session.collector import COLLECTOR_NAME, ReportCollector
from pytest_llmeval.session.header import check_writable, header_lines
from pytest_llmeval.session.markers import MARKER_HELP, SETTINGS_KEY, is_eval_case
from pytest_llmeval.session.options import (
    NO_MODEL,
    STORE_SIGNING_KEY_ENV,
    Launch,
    Settings,
    add_options,
    check_ini_keys,
    read_settings,
)
from pytest_llmeval.session.termination import Termination
from pytest_llmeval.support.redact import LogRedactor, Scrubber

if TYPE_CHECKING:
    from pytest_llmeval.calls.reply import Reply
    from pytest_llmeval.grading.judge import Judge
    from pytest_llmeval.grading.moderation import Moderation
    from pytest_llmeval.session.eval_session import EvalSession, JsonChecks, ModelUnderTest

# Two rooms. What every session loads is this file and the small modules it imports: the
# options, the markers' names, the census, the collector's hooks, the key's scrubber. The
# EvalSession (`session.py`, and through it the records, the prefetcher, the datasets, the
# replay store and the SDK when a call needs it) is made by `_session`, on the first eval
# case collected or the first llm fixture used, and brings its per-test hooks (CaseHooks):
# a suite without eval cases never loads it, and its tests run through no hook of ours.
OPTIONS_KEY = pytest.StashKey[Settings]()  # the run's; markers.SETTINGS_KEY holds a case's
CENSUS_KEY = pytest.StashKey[EvalCensus]()
SCRUBBER_KEY = pytest.StashKey[Scrubber]()
REDACTOR_KEY = pytest.StashKey[LogRedactor]()
SESSION_KEY = pytest.StashKey["EvalSession"]()
CASE_HOOKS_NAME = "llmeval-case-hooks"
KEY_SCRUBBER_NAME = "llmeval-key-scrubber"
LAUNCH_KEY = pytest.StashKey[Launch]()
TERMINATION_KEY = pytest.StashKey[Termination]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


# tryfirst: before pytest's own implementation imports the first conftest.py, which could
# change the environment; the command line and the environment are taken as they came.
@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    early_config.stash[LAUNCH_KEY] = Launch.of(early_config.invocation_params.args, os.environ)


@pytest.hookimpl(tryfirst=True)  # registers the llmeval profile before hypothesis loads one
def pytest_configure(config: pytest.Config) -> None:
    for help_text in MARKER_HELP.values():
        config.addinivalue_line("markers", help_text)
    check_ini_keys(config)
    api_key = os.environ.get("MISTRAL_API_KEY") or None
    signing_key = os.environ.get(STORE_SIGNING_KEY_ENV) or None
    scrubber = config.stash[SCRUBBER_KEY] = Scrubber(api_key, also=[signing_key])
    try:
        settings = read_settings(config, config.stash.get(LAUNCH_KEY, None))
    except pytest.UsageError as error:  # it quotes the value given: a pasted key stays hidden
        raise pytest.UsageError(scrubber.text(str(error))) from None
    config.stash[OPTIONS_KEY] = settings
    check_writable(settings, controller=not hasattr(config, "workerinput"))
    termination = config.stash[TERMINATION_KEY] = Termination()
    termination.install()
    census = config.stash[CENSUS_KEY] = EvalCensus()
    # The SDK logs request headers (the key) with MISTRAL_DEBUG=1: hidden in its records.
    redactor = config.stash[REDACTOR_KEY] = LogRedactor(scrubber.secrets)
    redactor.install()
    if scrubber.secrets:
        config.pluginmanager.register(KeyScrubber(scrubber), KEY_SCRUBBER_NAME)
    hypothesis_profile.configure(settings.examples, config.getoption("hypothesis_profile", None))
    if not hasattr(config, "workerinput"):  # files and the verdict belong to the controller
        collector = ReportCollector(
            config,
            settings,
            started=datetime.now(timezone.utc),
            clock=time.perf_counter,
            scrub=scrubber.text,
            model_card=lambda model_id: _session(config).model_card(model_id),
            census=census,
        )
        config.pluginmanager.register(collector, COLLECTOR_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    termination = config.stash.get(TERMINATION_KEY, None)
    if termination is not None:
        termination.remove()
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
    redactor = config.stash.get(REDACTOR_KEY, None)
    if redactor is not None:
        redactor.remove()
    for name in (COLLECTOR_NAME, CASE_HOOKS_NAME, KEY_SCRUBBER_NAME):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings, scrubber = config.stash[OPTIONS_KEY], config.stash[SCRUBBER_KEY]
    lines = header_lines(settings, has_key=scrubber.api_key is not None)
    return [scrubber.text(line) for line in lines]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.failed:  # a DatasetError raised while a test module was imported: one line
        message = dataset_error_line(str(report.longrepr))
        if message is not None:
            report.longrepr = message
        return report
    if any(isinstance(item, pytest.Item) and is_eval_case(item) for item in report.result):
        return _session(collector.config).check_collect_report(report)
    return report


class CaseHooks:
    """The per-test hooks of an eval session, registered with its EvalSession (`_session`),
    so that a suite without eval cases runs its tests through none of them."""

    def __init__(self, session: EvalSession) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        self.session.start_item(item, nextitem)
        try:
            return (yield)
        finally:
            self.session.finish_item()

    @pytest.hookimpl(tryfirst=True)  # before an xdist worker sends its collection on
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The first check: a model id the server does not serve stops the run here, before
        any case, as a usage error (exit 4). An xdist worker cannot raise one: it runs no
        case and tells the controller (`FIRST_CHECK_KEY`), which ends the run the same way."""
        option = session.config.option
        if getattr(option, "collectonly", False) or getattr(option, "setupplan", False):
            return
        problem = self.session.first_check(session.items)
        if problem is None:
            return
        workeroutput = getattr(session.config, "workeroutput", None)
        if not isinstance(workeroutput, dict):
            raise pytest.UsageError(problem)
        workeroutput[FIRST_CHECK_KEY] = problem
        session.items[:] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        self.session.start_progress(session)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        record = self.session.make_record(item, call)
        one_line = self.session.one_line_error(call)
        report = yield
        if record is not None:
            setattr(report, CASE_ATTRIBUTE, record)  # travels with xdist reports
        else:
            not_counted = self.session.not_counted_record(item, report)
            if not_counted is not None:
                setattr(report, NOT_COUNTED_ATTRIBUTE, not_counted)
        if one_line is not None:
            report.longrepr = one_line
        return report


class KeyScrubber:
    """Hides the API key in every test's report: registered when MISTRAL_API_KEY is set,
    eval cases or not (a plain test can print it too)."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber

    # tryfirst: the outermost wrapper, so it sees the report after every other one is done
    # with it (CaseHooks' one-line error included).
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        self.scrubber.report(report)
        return report


# A wrapper, tryfirst: it sees the items before any other plugin's or conftest's hook can
# drop one (only a conftest wrapper of its own could come first), so that the census knows
# every eval case collected and can name those that vanished without being deselected; and
# after them all (-k, -m, --deselect) a shard splits what they left.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    config.stash[CENSUS_KEY].before_hooks(
        [item.nodeid for item in items if SETTINGS_KEY in item.stash]
    )
    hypothesis_profile.apply_to_model_tests(items)
    result = yield
    settings = config.stash[OPTIONS_KEY]
    if settings.shard is not None:
        from pytest_llmeval.session.shard import split

        config.stash[CENSUS_KEY].suite = split(config, items, settings.shard, settings.repeat)
    return result


@pytest.hookimpl(trylast=True)  # after the parametrize markers: the run's id comes last
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    repeat.parametrize(metafunc, metafunc.config.stash[OPTIONS_KEY].repeat)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Counts the eval cases among items deselected by -k, -m or --deselect."""
    if items:
        census = items[0].config.stash[CENSUS_KEY]
        deselected = [item.nodeid for item in items if SETTINGS_KEY in item.stash]
        census.deselected += len(deselected)
        census.deselected_ids.update(deselected)


@pytest.hookimpl(trylast=True)  # after every plugin has had its say on session.items
def pytest_collection_finish(session: pytest.Session) -> None:
    """Takes the census of the eval cases selected; an xdist worker publishes it."""
    config = session.config
    flags = [SETTINGS_KEY in item.stash for item in session.items]
    census = config.stash[CENSUS_KEY]
    census.collected([item.nodeid for item in session.items], flags)
    workeroutput = getattr(config, "workeroutput", None)
    if isinstance(workeroutput, dict):
        workeroutput[WORKEROUTPUT_KEY] = census.to_message(flags)
    settings = config.stash[OPTIONS_KEY]
    if settings.batch and settings.model and any(flags) and not config.option.collectonly:
        _run_batch(session, workeroutput)


def _run_batch(session: pytest.Session, workeroutput: object) -> None:
    """`--llm-batch`, before the first test: progress lines in the terminal (none with -q or
    on an xdist worker), `run.batch` to the collector or, from a worker, to the controller."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    quiet = config.get_verbosity() < 0 or isinstance(workeroutput, dict)
    progress = None if reporter is None or quiet else reporter.write_line
    summary = _session(config).run_batch(session.items, progress)
    if isinstance(workeroutput, dict):
        workeroutput[BATCH_WORKEROUTPUT_KEY] = summary
    collector = config.pluginmanager.get_plugin(COLLECTOR_NAME)
    if isinstance(collector, ReportCollector):
        collector.add_batch(summary)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    # A Case exists only once `cases()` ran, which imported its module: until then, no value
    # can be one, and the module is not imported for the asking.
    datasets = sys.modules.get(f"{__package__}.data.datasets")
    return val.id if datasets is not None and isinstance(val, datasets.Case) else None


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm(pytestconfig: pytest.Config) -> ModelUnderTest:
    """The model under test (`--llm-model`); tests that use it are skipped without one."""
    from pytest_llmeval.session.eval_session import ModelUnderTest

    session = _session(pytestconfig)
    if not session.settings.model:
        pytest.skip(NO_MODEL)
    return ModelUnderTest(session)


@pytest.fixture
def llm_reply(request: pytest.FixtureRequest) -> Reply:
    """The model's reply to the current case's request, completed concurrently ahead of time."""
    return _session(request.config).reply_for(request.node)


@pytest.fixture(scope="session")
def llm_json(pytestconfig: pytest.Config) -> JsonChecks:
    """`llm_json(reply_or_text, schema=None, strict=True)`: the parsed value, or JsonFormatError;
    `llm_json.tool_call(reply, name=None)`: the first tool call's arguments, the same way."""
    from pytest_llmeval.session.eval_session import JsonChecks

    return JsonChecks(_session(pytestconfig))


@pytest.fixture(scope="session")
def llm_judge(pytestconfig: pytest.Config) -> Judge:
    """LLM-as-judge with `--llm-judge-model`: `llm_judge.score(output, rubric=...)`."""
    from pytest_llmeval.grading.judge import Judge

    session = _session(pytestconfig)
    return Judge(
        session.endpoint,
        session.current_recorder,
        lambda: settings.group if (settings := session.current_settings()) else None,
        session.settings.judge_model,
    )


@pytest.fixture(scope="session")
def llm_moderation(pytestconfig: pytest.Config) -> Moderation:
    """The moderation classifier: `llm_moderation.check(text_or_messages)`."""
    from pytest_llmeval.grading.moderation import Moderation

    session = _session(pytestconfig)
    return Moderation(session.endpoint, session.current_recorder, session.settings.moderation_model)


@pytest.fixture(scope="session")
def llm_score(pytestconfig: pytest.Config) -> Callable[[str, float], None]:
    """`llm_score(name, value)`: records a numeric metric for the current case."""
    return _session(pytestconfig).record_score


@pytest.fixture
def llm_simulator() -> Iterator[Any]:
    """A running Mistral-compatible simulator on 127.0.0.1, for testing a suite's plumbing."""
    from pytest_llmeval.simulator import Simulator

    with Simulator() as simulator:
        yield simulator


def _session(config: pytest.Config) -> EvalSession:
    """The session's EvalSession, made on first need (see the two rooms above)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        from pytest_llmeval.session.eval_session import EvalSession

        session = config.stash[SESSION_KEY] = EvalSession(
            config,
            config.stash[OPTIONS_KEY],
            scrubber=config.stash[SCRUBBER_KEY],
        )
        config.pluginmanager.register(CaseHooks(session), CASE_HOOKS_NAME)
    return session
