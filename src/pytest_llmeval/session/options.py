"""The plugin's command-line options and ini keys, and their typed resolution into settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import pytest

from pytest_llmeval.calls.retry import RetryPolicy
from pytest_llmeval.improvement import LAST_PASSED
from pytest_llmeval.replay.record_mode import RecordMode
from pytest_llmeval.report.gate_settings import GateSettings

if TYPE_CHECKING:
    from pytest_llmeval.calls.endpoint_settings import EndpointSettings
    from pytest_llmeval.report.pricing import PriceTable

T = TypeVar("T")

GROUP = "llmeval"
MODEL = "--llm-model"
SERVER_URL = "--llm-server-url"
JUDGE_MODEL = "--llm-judge-model"
MODERATION_MODEL = "--llm-moderation-model"
RECORD_MODE = "--llm-record-mode"
STORE = "--llm-store"
CONCURRENCY = "--llm-concurrency"
TIMEOUT = "--llm-timeout"
MAX_RETRY_TIME = "--llm-max-retry-time"
REPORT = "--llm-report"
REPORT_MD = "--llm-report-md"
BASELINE = "--llm-baseline"
FORMAT_THRESHOLD = "--llm-format-threshold"
MAX_ERRORS = "--llm-max-errors"
MAX_DROP = "--llm-max-drop"
STRICT_CASES = "--llm-strict-cases"
EXAMPLES = "--llm-examples"
TRAIN_DATA = "--llm-train-data"
MAX_CONTAMINATED = "--llm-max-contaminated"
LEDGER = "--llm-ledger"
EXPORT_FAILURES = "--llm-export-failures"
ALPHA = "--llm-alpha"
REPEAT = "--llm-repeat"

# The ini key (no option) of price lines that extend or override the shipped price table.
PRICES_INI = "llm_prices"

# The skip reason of an eval case in a session without a model.
NO_MODEL = (
    "no model under test: pass --llm-model=ID (e.g. --llm-model=mistral-small-latest or"
    " --llm-model=ft:open-mistral-7b:...) or set LLMEVAL_MODEL"
)


class OptionError(ValueError):
    """A value that does not fit its option; the text says what is allowed."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise OptionError("is not a whole number; use an integer of 1 or more") from None
    if value < 1:
        raise OptionError("must be 1 or more")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise OptionError("is not a whole number; use an integer of 0 or more") from None
    if value < 0:
        raise OptionError("must be 0 or more")
    return value


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise OptionError("is not a number; use a rate from 0 to 1, e.g. 0.95") from None
    if not 0.0 <= value <= 1.0:
        raise OptionError("is outside 0 to 1; use a rate such as 0.95")
    return value


def significance_level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise OptionError("is not a number; use a significance level such as 0.05") from None
    if not 0.0 < value < 1.0:
        raise OptionError("must be above 0 and below 1, e.g. 0.05")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise OptionError("is not a number of seconds") from None
    if not 0.0 < value < 86400:
        raise OptionError("must be a number of seconds above 0")
    return value


def record_mode(text: str) -> RecordMode:
    try:
        return RecordMode(text)
    except ValueError:
        modes = ", ".join(mode.value for mode in RecordMode)
        raise OptionError(f"is not a record mode; use one of {modes}") from None


def server_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise OptionError("is not an http(s) URL, e.g. http://127.0.0.1:8000")
    url = text.rstrip("/")
    # The SDK's paths start with /v1; a URL copied from an OpenAI-style client often ends in it.
    return url.removesuffix("/v1") if url.endswith("/v1") else url


def model_id(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text):
        raise OptionError("is not a model id, e.g. mistral-small-latest or ft:open-mistral-7b:...")
    return text


# The option table, the settings and a raw value are NamedTuples, not dataclasses: this module
# is imported by every pytest session, and a dataclass takes some 0.6 ms to define against
# 0.08 ms for a NamedTuple (docs/architecture.md, "Two rooms").
class Option(NamedTuple):
    flag: str
    help: str
    default: str | None
    metavar: str = "VALUE"
    env: str | None = None
    is_flag: bool = False

    @property
    def ini(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS = (
    Option(
        MODEL,
        help="model under test, e.g. ft:open-mistral-7b:587a6b29:20240514:7e773925 "
        "(env LLMEVAL_MODEL); without it, eval tests that need a model are skipped",
        default=None,
        metavar="ID",
        env="LLMEVAL_MODEL",
    ),
    Option(
        SERVER_URL,
        help="a Mistral-compatible endpoint: self-hosted or the bundled simulator "
        "(env MISTRAL_SERVER_URL; default: Mistral's public API)",
        default=None,
        metavar="URL",
        env="MISTRAL_SERVER_URL",
    ),
    Option(
        JUDGE_MODEL,
        help="model for LLM-as-judge checks",
        default="mistral-large-latest",
        metavar="ID",
    ),
    Option(
        MODERATION_MODEL,
        help="moderation classifier",
        default="mistral-moderation-latest",
        metavar="ID",
    ),
    Option(
        RECORD_MODE,
        help="none: replay only, a miss is an error; new_episodes: replay hits, call and "
        "record misses; all: call everything and overwrite (default: new_episodes, none when "
        "the CI env var is set)",
        default=None,
        metavar="MODE",
    ),
    Option(
        STORE,
        help="folder of recorded responses; commit it to replay offline in CI",
        default=".llmeval/store",
        metavar="DIR",
    ),
    Option(CONCURRENCY, help="model calls in flight at once", default="8", metavar="N"),
    Option(TIMEOUT, help="seconds one HTTP attempt may take", default="60", metavar="SECONDS"),
    Option(
        MAX_RETRY_TIME,
        help="seconds one model call may take, retries included",
        default="120",
        metavar="SECONDS",
    ),
    Option(REPORT, help="write the JSON report to this path", default=None, metavar="PATH"),
    Option(
        REPORT_MD,
        help="write the Markdown report to this path (also appended to $GITHUB_STEP_SUMMARY "
        "when that is set)",
        default=None,
        metavar="PATH",
    ),
    Option(
        BASELINE,
        help="a JSON report of an earlier run to compare against",
        default=None,
        metavar="PATH",
    ),
    Option(
        FORMAT_THRESHOLD,
        help="minimum share of strictly valid outputs among llm_json checks",
        default="1.0",
        metavar="RATE",
    ),
    Option(
        MAX_ERRORS,
        help="infrastructure errors tolerated before the gate fails",
        default="0",
        metavar="N",
    ),
    Option(
        MAX_DROP,
        help="largest drop of a pass rate or of format validity against the baseline that "
        "the gate tolerates",
        default="0.05",
        metavar="RATE",
    ),
    Option(
        STRICT_CASES,
        help="every failed eval case fails the session, as plain pytest would",
        default=None,
        is_flag=True,
    ),
    Option(
        EXAMPLES,
        help="examples per hypothesis test that calls a model (the llmeval profile: "
        "derandomized, no deadline, no example database)",
        default="20",
        metavar="N",
    ),
    Option(
        TRAIN_DATA,
        help="a fine-tuning JSONL file: eval cases whose user turn occurs in it are "
        "contaminated (the gate blocks), and system-prompt drift against it is reported",
        default=None,
        metavar="PATH",
    ),
    Option(
        MAX_CONTAMINATED,
        help="contaminated eval cases (see --llm-train-data) the gate tolerates",
        default="0",
        metavar="N",
    ),
    Option(
        LEDGER,
        help="the experiment ledger, one JSON line appended per run; 'none' turns it off",
        default=".llmeval/ledger.jsonl",
        metavar="PATH",
    ),
    Option(
        EXPORT_FAILURES,
        help="write every failed case as a Mistral fine-tuning row (JSONL)",
        default=None,
        metavar="PATH",
    ),
    Option(
        ALPHA,
        help="significance level of the baseline comparison: a drop blocks only when its "
        "one-sided paired test is below this AND it is larger than --llm-max-drop",
        default="0.05",
        metavar="P",
    ),
    Option(
        REPEAT,
        help="run every eval case N times, each run its own sample (recorded and replayed "
        "apart); the report shows per-case pass fractions and flaky cases",
        default="1",
        metavar="N",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "LLM evaluation (pytest-llmeval)")
    for option in OPTIONS:
        shown = f" (default: {option.default})" if option.default is not None else ""
        if option.is_flag:
            group.addoption(
                option.flag, action="store_true", default=None, dest=option.ini, help=option.help
            )
            parser.addini(option.ini, option.help, type="bool", default=False)
        else:
            group.addoption(
                option.flag,
                action="store",
                default=None,
                dest=option.ini,
                metavar=option.metavar,
                help=option.help + shown,
            )
            parser.addini(option.ini, option.help + shown, default=None)
    parser.addini(
        PRICES_INI,
        "model prices for the cost estimate, one 'MODEL = INPUT OUTPUT' a line, USD per "
        "million tokens; extends or overrides the shipped table",
        type="linelist",
        default=[],
    )


class Settings(NamedTuple):
    """Every option's resolved, validated value."""

    model: str | None
    server_url: str | None
    judge_model: str
    moderation_model: str
    record_mode: RecordMode
    store: Path
    concurrency: int
    timeout_s: float
    max_retry_time_s: float
    report: Path | None
    report_md: Path | None
    baseline: Path | None
    gate: GateSettings
    strict_cases: bool
    examples: int
    train_data: Path | None
    max_contaminated: int
    ledger: Path | None  # None: --llm-ledger=none
    export_failures: Path | None
    baseline_from_ledger: bool  # --llm-baseline=ledger:last-passed
    prices: PriceTable | None  # None: the shipped table, as is
    repeat: int = 1
    ci: bool = False  # the CI variable, as the run was started (a conftest cannot unset it)
    # Under CI: the values of the ini file, addopts or a conftest that were not used, said
    # once in the header ("llm_record_mode, llm_server_url from pytest.ini").
    ci_ignored: tuple[str, ...] = ()


class RawValue(NamedTuple):
    """An option's value as given, where it was given, and the folder a relative path in it is
    relative to (None: the working directory)."""

    text: str | None
    base: Path | None
    source: str

    def names(self, flag: str) -> str:
        """How an error names the value: as the user wrote it, where they wrote it."""
        if self.source == "command line" or self.text is None:
            return f"{flag}={self.text!r}"
        return f"{self.source}: {self.text!r}"


def _raw(config: pytest.Config, option: Option) -> RawValue:
    """The value from the command line, then environment, then ini file, then the default."""
    value = config.getoption(option.ini)
    if value is not None:
        return RawValue(str(value), None, "command line")
    if option.env and os.environ.get(option.env):
        return RawValue(os.environ[option.env], None, f"environment variable {option.env}")
    ini = config.getini(option.ini)
    if ini not in (None, "", []):
        where = config.inipath or config.rootpath
        base = config.inipath.parent if config.inipath else config.rootpath
        return RawValue(str(ini), base, f"{option.ini} in {where}")
    return RawValue(option.default, config.rootpath, "default")


# Under CI these come from the command line and the environment only (the workflow's):
# the ini file, its addopts and a conftest.py belong to the pull request (docs/ci.md).
FROM_LAUNCH_UNDER_CI = (RECORD_MODE, SERVER_URL)
_LAUNCH_ENV = ("CI", "MISTRAL_SERVER_URL", "PYTEST_ADDOPTS")


class Launch(NamedTuple):
    """What the run was started with, taken before any conftest.py ran: the command line
    (after PYTEST_ADDOPTS, as pytest reads them) and the environment variables read here."""

    args: tuple[str, ...]
    environ: dict[str, str]

    @classmethod
    def of(cls, args: Sequence[str], environ: Mapping[str, str]) -> Launch:
        import shlex

        kept = {name: environ[name] for name in _LAUNCH_ENV if environ.get(name)}
        return cls((*shlex.split(kept.get("PYTEST_ADDOPTS", "")), *args), kept)

    @property
    def ci(self) -> bool:
        return bool(self.environ.get("CI"))

    def values(self) -> dict[str, str]:
        """The `FROM_LAUNCH_UNDER_CI` options given on the command line, by ini key."""
        import argparse

        parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
        for flag in FROM_LAUNCH_UNDER_CI:
            parser.add_argument(flag, dest=flag.lstrip("-").replace("-", "_"))
        try:
            known, _ = parser.parse_known_args(list(self.args))
        except (argparse.ArgumentError, SystemExit):
            return {}  # pytest itself names what is wrong with the command line
        return {key: str(value) for key, value in vars(known).items() if value is not None}


def _launch_raw(
    config: pytest.Config, option: Option, launch: Launch, ignored: list[str]
) -> RawValue:
    """Under CI, an option of FROM_LAUNCH_UNDER_CI: from the command line or the environment
    as the run started, else its default; a value found elsewhere goes into `ignored`."""
    given = launch.values().get(option.ini)
    value = config.getoption(option.ini)
    if value is not None and str(value) != given:
        ignored.append(f"{option.flag}={value} from addopts or a conftest.py")
    if given is None and option.ini != "llm_record_mode":
        given = launch.environ.get(option.env or "")
    if config.getini(option.ini) not in (None, "", []):
        ignored.append(f"{option.ini} from {config.inipath or config.rootpath}")
    if given:
        return RawValue(given, None, "command line")
    return RawValue(option.default, config.rootpath, "default")


def read_settings(config: pytest.Config, launch: Launch | None = None) -> Settings:
    """Every option resolved; `launch` (`Launch.of` the command line and environment before
    the conftest files ran) decides CI and, under CI, the record mode and the server."""
    by_flag = {option.flag: option for option in OPTIONS}
    if launch is None:
        launch = Launch.of(config.invocation_params.args, os.environ)
    ignored: list[str] = []

    def raw_value(option: Option) -> RawValue:
        if launch.ci and option.flag in FROM_LAUNCH_UNDER_CI:
            return _launch_raw(config, option, launch, ignored)
        return _raw(config, option)

    def path(flag: str) -> Path | None:
        raw = raw_value(by_flag[flag])
        if not raw.text:
            return None
        given = Path(raw.text).expanduser()
        return raw.base / given if raw.base is not None and not given.is_absolute() else given

    def get(flag: str, convert: Callable[[str], T]) -> T | None:
        option = by_flag[flag]
        raw = raw_value(option)
        if raw.text is None:
            return None
        try:
            return convert(raw.text)
        except OptionError as error:
            raise pytest.UsageError(f"{raw.names(flag)} {error}") from None

    def required(flag: str, convert: Callable[[str], T]) -> T:
        value = get(flag, convert)
        assert value is not None, flag  # every required option has a default
        return value

    mode = get(RECORD_MODE, record_mode) or (
        RecordMode.NONE if launch.ci else RecordMode.NEW_EPISODES
    )
    server = get(SERVER_URL, server_url)
    strict = bool(config.getoption(by_flag[STRICT_CASES].ini) or config.getini("llm_strict_cases"))
    from_ledger = _raw(config, by_flag[BASELINE]).text == LAST_PASSED
    ledger_off = (_raw(config, by_flag[LEDGER]).text or "").strip().lower() == "none"
    return Settings(
        model=get(MODEL, model_id),
        server_url=server,
        judge_model=required(JUDGE_MODEL, model_id),
        moderation_model=required(MODERATION_MODEL, model_id),
        record_mode=mode,
        store=path(STORE) or config.rootpath / ".llmeval" / "store",
        concurrency=required(CONCURRENCY, positive_int),
        timeout_s=required(TIMEOUT, seconds),
        max_retry_time_s=required(MAX_RETRY_TIME, seconds),
        report=path(REPORT),
        report_md=path(REPORT_MD),
        baseline=None if from_ledger else path(BASELINE),
        gate=_gate_settings(required),
        strict_cases=strict,
        examples=required(EXAMPLES, positive_int),
        train_data=path(TRAIN_DATA),
        max_contaminated=required(MAX_CONTAMINATED, non_negative_int),
        ledger=None if ledger_off else path(LEDGER),
        export_failures=path(EXPORT_FAILURES),
        baseline_from_ledger=from_ledger,
        repeat=required(REPEAT, positive_int),
        prices=price_table(config),
        ci=launch.ci,
        ci_ignored=tuple(dict.fromkeys(ignored)),
    )


def price_table(config: pytest.Config) -> PriceTable | None:
    """The shipped price table with the `llm_prices` lines of the ini file; a bad line is a
    usage error naming the file, the line and what to write. None without such lines: the
    report reads the shipped table when it needs it."""
    lines = [str(line) for line in config.getini(PRICES_INI)]
    if not lines:
        return None
    from pytest_llmeval.report.pricing import PriceError, shipped_table

    try:
        return shipped_table().with_overrides(lines)
    except PriceError as error:
        where = config.inipath or config.rootpath
        line = _line_number(config.inipath, error.line)
        at = f", line {line}" if line else ""
        raise pytest.UsageError(f"{PRICES_INI} in {where}{at}: {error}") from None


def _line_number(path: Path | None, text: str) -> int | None:
    """The first line of `path` that holds `text`, to point at a bad ini value; None if none."""
    if path is None or not text:
        return None
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return next(
        (number for number, line in enumerate(content.splitlines(), 1) if text in line), None
    )


def header_lines(settings: Settings, *, has_key: bool) -> list[str]:
    """pytest's header lines: the model, server and record mode; the store; and what makes
    every model call of this session fail, said once here rather than once a case."""
    server = settings.server_url or "Mistral API"
    if settings.record_mode is RecordMode.NONE:
        server = "none (replay only)"
    lines = [
        f"llmeval: model {settings.model or '(none)'}, server {server},"
        f" record mode {settings.record_mode}",
        f"llmeval: store {settings.store.resolve()}",  # absolute paths are long: a line
    ]
    if settings.ci_ignored:
        lines.append(f"llmeval: warning: {ci_ignored_sentence(settings.ci_ignored)}")
    return lines + [f"llmeval: {condition}" for condition in _session_conditions(settings, has_key)]


def ci_ignored_sentence(ignored: Sequence[str]) -> str:
    """The one warning on settings CI did not use, e.g. `CI is set: ignored llm_record_mode,
    llm_server_url from /repo/pytest.ini; ...`."""
    by_source: dict[str, list[str]] = {}
    for entry in ignored:
        name, _, source = entry.partition(" from ")
        by_source.setdefault(source, []).append(name)
    listed = "; ".join(f"{', '.join(names)} from {source}" for source, names in by_source.items())
    return (
        f"CI is set: ignored {listed}; under CI the record mode and the server come from the"
        " command line or the environment only"
    )


def _session_conditions(settings: Settings, has_key: bool) -> list[str]:
    """What makes every model call of this session fail."""
    if not settings.model:
        return []
    if settings.record_mode is RecordMode.NONE:
        if not settings.store.is_dir():
            return [
                f"the store {settings.store.resolve()} does not exist: with"
                " --llm-record-mode=none every model call fails; record it with"
                " --llm-record-mode=new_episodes or pass --llm-store=DIR"
            ]
    elif not settings.server_url and not has_key:
        return [
            "MISTRAL_API_KEY is not set: every call to Mistral's API fails; export it,"
            " or pass --llm-server-url=URL, or replay with --llm-record-mode=none"
        ]
    return []


def check_writable(settings: Settings, *, controller: bool) -> None:
    """Raises `pytest.UsageError` naming the option whose path cannot be written, before any
    model call: the store in a mode that records (with a model under test), and (on the
    controller) the reports."""
    from pytest_llmeval.support.atomic import folder_problem, write_problem

    problems: list[str] = []
    # Without a model under test nothing is recorded for it: a plain pytest run in a
    # read-only checkout must not fail over a store it will never write.
    if settings.model and settings.record_mode is not RecordMode.NONE:
        problem = folder_problem(settings.store)
        if problem:
            problems.append(
                f"{STORE}={settings.store}: answers could not be recorded ({problem}); make it"
                f" writable, pass another {STORE}=DIR, or replay only with {RECORD_MODE}=none"
            )
    if controller:
        for flag, path in ((REPORT, settings.report), (REPORT_MD, settings.report_md)):
            problem = write_problem(path) if path is not None else None
            if problem:
                problems.append(f"{flag}={path}: cannot be written ({problem})")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        problem = write_problem(summary, append=True) if summary else None
        if problem:
            problems.append(f"$GITHUB_STEP_SUMMARY={summary}: cannot be appended to ({problem})")
    if problems:
        raise pytest.UsageError("\n".join(problems))


def _default(flag: str, convert: Callable[[str], T]) -> T:
    """An option's default, converted as a value given for it would be."""
    default = next(option.default for option in OPTIONS if option.flag == flag)
    assert default is not None, flag
    return convert(default)


def default_gate_settings() -> GateSettings:
    """The gate's settings when no option is given."""
    return _gate_settings(_default)


def _gate_settings(value: Callable[[str, Callable[[str], Any]], Any]) -> GateSettings:
    """The gate's settings, `value(flag, convert)` giving each option's."""
    return GateSettings(
        format_threshold=value(FORMAT_THRESHOLD, rate),
        max_errors=value(MAX_ERRORS, non_negative_int),
        max_drop=value(MAX_DROP, rate),
        alpha=value(ALPHA, significance_level),
    )


_TIMEOUT_S = _default(TIMEOUT, seconds)
_MAX_CALL_TIME_S = _default(MAX_RETRY_TIME, seconds)
_STORE_DIR = Path(_default(STORE, str))
_JUDGE_MODEL = _default(JUDGE_MODEL, model_id)
_MODERATION_MODEL = _default(MODERATION_MODEL, model_id)
_CONCURRENCY = _default(CONCURRENCY, positive_int)

# The backoff between attempts: not options, but settings of the retry policy all the same.
BACKOFF: dict[str, float] = {
    "initial_delay_s": 0.5,
    "max_delay_s": 8.0,
    "jitter_s": 0.25,
    "min_server_delay_s": 0.1,
}


def retry_policy(
    *,
    timeout_s: float = _TIMEOUT_S,
    max_call_time_s: float = _MAX_CALL_TIME_S,
    **backoff: float,
) -> RetryPolicy:
    """The retry policy for these option values, the backoff from `BACKOFF` unless given."""
    return RetryPolicy(
        timeout_s=timeout_s, max_call_time_s=max_call_time_s, **{**BACKOFF, **backoff}
    )


def endpoint_settings(
    *,
    model: str | None,
    server_url: str | None = None,
    api_key: str | None = None,
    record_mode: RecordMode | str = RecordMode.NEW_EPISODES,
    store_dir: Path = _STORE_DIR,
    judge_model: str = _JUDGE_MODEL,
    moderation_model: str = _MODERATION_MODEL,
    concurrency: int = _CONCURRENCY,
    **retry: Any,
) -> EndpointSettings:
    """The endpoint's settings: the options' defaults for what is not given; `retry` takes
    `retry_policy`'s keywords."""
    from pytest_llmeval.calls.endpoint_settings import EndpointSettings

    return EndpointSettings(
        model=model,
        server_url=server_url,
        api_key=api_key,
        judge_model=judge_model,
        moderation_model=moderation_model,
        concurrency=concurrency,
        record_mode=RecordMode(record_mode),
        store_dir=store_dir,
        retry=retry_policy(**retry),
    )


def settings_of_endpoint(settings: Settings, api_key: str | None) -> EndpointSettings:
    """The endpoint's settings for a session's resolved options."""
    return endpoint_settings(
        model=settings.model,
        server_url=settings.server_url,
        api_key=api_key,
        record_mode=settings.record_mode,
        store_dir=settings.store,
        judge_model=settings.judge_model,
        moderation_model=settings.moderation_model,
        concurrency=settings.concurrency,
        timeout_s=settings.timeout_s,
        max_call_time_s=settings.max_retry_time_s,
    )
