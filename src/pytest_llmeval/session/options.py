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
STORE_PUBLIC_KEY = "--llm-store-public-key"
ALLOW_SKIPS = "--llm-allow-skips"
ALLOW_RELAXED = "--llm-allow-relaxed"
# The environment variable of the private key that signs recordings (replay/signing.py).
STORE_SIGNING_KEY_ENV = "LLMEVAL_STORE_SIGNING_KEY"
HTML = "--llm-html"
SHARD = "--llm-shard"
BATCH = "--llm-batch"
BATCH_JOB = "--llm-batch-job"

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


def shard(text: str) -> tuple[int, int]:
    """`K/N` as (K, N): the K-th of N shards, K counted from 1."""
    index_text, slash, count_text = text.strip().partition("/")
    try:
        if not slash:
            raise ValueError
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise OptionError("is not K/N, e.g. 2/3 for the second of three shards") from None
    if count < 1 or not 1 <= index <= count:
        raise OptionError("is not a shard: K must be within 1..N, e.g. 1/3, 2/3, 3/3") from None
    return index, count


def batch_job(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text):
        raise OptionError("is not a batch job id (the id the job's first run printed)")
    return text


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
    # Read from the command line pytest was started with only: no ini key, no addopts.
    command_line_only: bool = False

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
    Option(
        STORE_PUBLIC_KEY,
        help="the Ed25519 public key (base64, from `llmeval store keygen`) every replayed "
        "recording is checked against: one unsigned, signed by another key or changed is "
        "never replayed and blocks the gate (store_integrity)",
        default=None,
        metavar="KEY",
    ),
    Option(
        ALLOW_SKIPS,
        help="under CI, eval cases the baseline ran that are skipped, xfailed or gone do not "
        "block (command line only)",
        default=None,
        is_flag=True,
        command_line_only=True,
    ),
    Option(
        ALLOW_RELAXED,
        help="under CI, gate settings relaxed against the baseline (a threshold lowered, a "
        "gated group gone) do not block (command line only)",
        default=None,
        is_flag=True,
        command_line_only=True,
    ),
    Option(
        HTML,
        help="write the HTML report to this path: one self-contained page for a reviewer "
        "(verdict, groups, charts, the cases that flipped against the baseline, every case)",
        default=None,
        metavar="PATH",
    ),
    Option(
        SHARD,
        help="run the K-th of N shards of the eval cases (a stable split by case id; the "
        "others are deselected); merge the shards' reports with `llmeval merge`",
        default=None,
        metavar="K/N",
    ),
    Option(
        BATCH,
        help="answer the first request of every selected dataset case through one Mistral "
        "batch job (half price), record the answers, then run the tests replaying them",
        default=None,
        is_flag=True,
    ),
    Option(
        BATCH_JOB,
        help="with --llm-batch: wait for this existing batch job (after Ctrl-C or a lost "
        "runner) instead of creating one",
        default=None,
        metavar="ID",
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
            if not option.command_line_only:
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
    store_public_key: str | None = None  # checked at start-up (signing.RecordingVerifier)
    allow_skips: bool = False  # given on the command line itself
    allow_relaxed: bool = False
    html: Path | None = None
    shard: tuple[int, int] | None = None  # --llm-shard=K/N as (K, N)
    batch: bool = False  # --llm-batch (implied by --llm-batch-job)
    batch_job: str | None = None
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


def check_ini_keys(config: pytest.Config) -> None:
    """A misspelt ini key of this plugin (`llm_concurency`) is a usage error with "did you
    mean", as a misspelt marker argument is, not a setting silently left at its default."""
    from pytest_llmeval.session.ini_keys import ini_file_keys, misspelt_keys

    def is_known(key: str) -> bool:
        try:
            config.getini(key)
        except ValueError:  # pytest's answer for a key no plugin registered
            return False
        return True

    ours = [option.ini for option in OPTIONS] + [PRICES_INI]
    problems = misspelt_keys(ini_file_keys(config.inipath), is_known, ours)
    if problems:
        where = config.inipath or config.rootpath
        raise pytest.UsageError("\n".join(f"{where}: {problem}" for problem in problems))


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
    batch = bool(config.getoption(by_flag[BATCH].ini) or config.getini(by_flag[BATCH].ini))
    job = get(BATCH_JOB, batch_job)
    if (batch or job is not None) and mode is RecordMode.NONE:
        raise pytest.UsageError(
            f"{BATCH} records the batch's answers, which {RECORD_MODE}=none does not: pass"
            f" {RECORD_MODE}=new_episodes (or all)"
        )
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
        shard=get(SHARD, shard),
        batch=batch or job is not None,
        batch_job=job,
        prices=price_table(config),
        store_public_key=_store_public_key(config, _raw(config, by_flag[STORE_PUBLIC_KEY])),
        allow_skips=given_on_command_line(config, ALLOW_SKIPS),
        allow_relaxed=given_on_command_line(config, ALLOW_RELAXED),
        html=path(HTML),
        ci=launch.ci,
        ci_ignored=tuple(dict.fromkeys(ignored)),
    )


def given_on_command_line(config: pytest.Config, flag: str) -> bool:
    """Whether `flag` is among the arguments pytest itself was started with: not from
    `addopts` in an ini file, nor PYTEST_ADDOPTS, so a pull request's files cannot give it."""
    return flag in config.invocation_params.args


def _store_public_key(config: pytest.Config, raw: RawValue) -> str | None:
    """The public key, checked now (a bad one is a usage error naming where it was given);
    the signing key in the environment is checked too, never shown."""
    signing = os.environ.get(STORE_SIGNING_KEY_ENV)
    if not raw.text and not signing:
        return None
    from pytest_llmeval.replay.signing import RecordingSigner, RecordingVerifier, SigningKeyError

    try:
        if signing:
            RecordingSigner(signing)
        if raw.text:
            where = STORE_PUBLIC_KEY if raw.source == "command line" else raw.source
            RecordingVerifier(raw.text, source=where)
    except SigningKeyError as error:
        raise pytest.UsageError(str(error)) from None
    return raw.text or None


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
    store_public_key: str | None = None,
    store_signing_key: str | None = None,
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
        store_public_key=store_public_key,
        store_signing_key=store_signing_key,
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
        store_public_key=settings.store_public_key,
        store_signing_key=os.environ.get(STORE_SIGNING_KEY_ENV) or None,
    )
