"""pytest wiring for pytest-llmeval: options, markers, fixtures and hooks, each handing off."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from . import hookspec, hypothesis_profile, repeat
from .collector import COLLECTOR_NAME, ReportCollector
from .datasets import Case
from .markers import MARKER_HELP
from .options import add_options, check_writable, read_settings
from .records import CASE_ATTRIBUTE, junit_properties
from .session import NO_MODEL, EvalSession, ModelUnderTest

if TYPE_CHECKING:
    from .endpoint import Reply
    from .judge import Judge
    from .moderation import Moderation

SESSION_KEY = pytest.StashKey[EvalSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


@pytest.hookimpl(tryfirst=True)  # registers the llmeval profile before hypothesis loads one
def pytest_configure(config: pytest.Config) -> None:
    for help_text in MARKER_HELP.values():
        config.addinivalue_line("markers", help_text)
    settings = read_settings(config)
    check_writable(settings, controller=not hasattr(config, "workerinput"))
    session = config.stash[SESSION_KEY] = EvalSession(config, settings)
    hypothesis_profile.configure(settings.examples, config.getoption("hypothesis_profile", None))
    if not hasattr(config, "workerinput"):  # files and the verdict belong to the controller
        collector = ReportCollector(
            config,
            settings,
            started=datetime.now(timezone.utc),
            clock=time.perf_counter,
            scrub=session.scrub,
            model_card=session.model_card,
            census=session.census,
        )
        config.pluginmanager.register(collector, COLLECTOR_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
    plugin = config.pluginmanager.get_plugin(COLLECTOR_NAME)
    if plugin is not None:
        config.pluginmanager.unregister(plugin)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return _session(config).header()


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    return _session(collector.config).check_collect_report(report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    session = _session(item.config)
    session.start_item(item, nextitem)
    try:
        return (yield)
    finally:
        session.finish_item()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    record = _session(item.config).make_record(item, call)
    if record is not None:
        item.user_properties.extend(junit_properties(record))
    one_line = _session(item.config).one_line_error(call)
    report = yield
    if record is not None:
        setattr(report, CASE_ATTRIBUTE, record)  # travels with xdist reports
    if one_line is not None:
        report.longrepr = one_line
    _session(item.config).scrub_report(report)
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    hypothesis_profile.apply_to_model_tests(items)


@pytest.hookimpl(trylast=True)  # after the parametrize markers: the run's id comes last
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    repeat.parametrize(metafunc, _session(metafunc.config).settings.repeat)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        _session(items[0].config).deselected(items)


@pytest.hookimpl(trylast=True)  # after every plugin has had its say on session.items
def pytest_collection_finish(session: pytest.Session) -> None:
    _session(session.config).collection_finished(session)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    return val.id if isinstance(val, Case) else None


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm(pytestconfig: pytest.Config) -> ModelUnderTest:
    """The model under test (`--llm-model`); tests that use it are skipped without one."""
    session = _session(pytestconfig)
    if not session.settings.model:
        pytest.skip(NO_MODEL)
    return ModelUnderTest(session)


@pytest.fixture
def llm_reply(request: pytest.FixtureRequest) -> Reply:
    """The model's reply to the current case's request, completed concurrently ahead of time."""
    return _session(request.config).reply_for(request.node)


@pytest.fixture(scope="session")
def llm_json(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """`llm_json(reply_or_text, schema=None, strict=True)`: the parsed value, or JsonFormatError."""
    session = _session(pytestconfig)

    def check(reply_or_text: Reply | str, schema: Any = None, strict: bool = True) -> Any:
        __tracebackhide__ = True
        return session.check_json(reply_or_text, schema, strict)

    return check


@pytest.fixture(scope="session")
def llm_judge(pytestconfig: pytest.Config) -> Judge:
    """LLM-as-judge with `--llm-judge-model`: `llm_judge.score(output, rubric=...)`."""
    from .judge import Judge

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
    from .moderation import Moderation

    session = _session(pytestconfig)
    return Moderation(session.endpoint, session.current_recorder, session.settings.moderation_model)


@pytest.fixture(scope="session")
def llm_score(pytestconfig: pytest.Config) -> Callable[[str, float], None]:
    """`llm_score(name, value)`: records a numeric metric for the current case."""
    return _session(pytestconfig).record_score


@pytest.fixture
def llm_simulator() -> Iterator[Any]:
    """A running Mistral-compatible simulator on 127.0.0.1, for testing a suite's plumbing."""
    from .simulator import Simulator

    with Simulator() as simulator:
        yield simulator


def _session(config: pytest.Config) -> EvalSession:
    return config.stash[SESSION_KEY]
