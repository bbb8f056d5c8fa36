"""Per-session state: the endpoint, each case's recorder, `llm_reply` prefetching, the fixtures."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmeval.case_record import (
    CaseRecord,
    CaseRecorder,
    NotCountedRecord,
    classify_outcome,
    junit_properties,
)
from pytest_llmeval.errors import JsonFormatError, LLMAPIError, printable
from pytest_llmeval.replay.samples import SampleCounter
from pytest_llmeval.session.census import skip_reason
from pytest_llmeval.session.markers import (
    SETTINGS_KEY,
    SHARD_ORDER_KEY,
    CaseSettings,
    MarkerError,
    case_settings,
    is_eval_case,
    settings_key,
)
from pytest_llmeval.session.options import NO_MODEL, Settings, settings_of_endpoint
from pytest_llmeval.session.prefetch import REPLY_KEY, Prefetcher, case_of, request_of
from pytest_llmeval.session.repeat import case_nodeid, run_index
from pytest_llmeval.support.messages import to_messages

if TYPE_CHECKING:
    # The SDK is imported when first used, not with pytest: a session that makes no model
    # call does not pay for importing it.
    from pytest_llmeval.calls.conversation import Conversation
    from pytest_llmeval.calls.endpoint import Endpoint, ModelInfo, Reply
    from pytest_llmeval.support.redact import Scrubber

RECORDER_KEY = pytest.StashKey[CaseRecorder]()
PROGRESS_NAME = "llmeval-progress"
SETUP_DURATION_KEY = pytest.StashKey[float]()

NO_CASE = (
    "llm_reply needs a `case` parameter made by cases():"
    " @pytest.mark.parametrize('case', cases('your.jsonl'))"
)


class EvalSession:
    """Everything a session (or an xdist worker) knows; the hooks in plugin.py hand off here."""

    def __init__(self, config: pytest.Config, settings: Settings, *, scrubber: Scrubber) -> None:
        self.config = config
        self.settings = settings
        self.scrubber = scrubber
        self.api_key = scrubber.api_key
        self._endpoint: Endpoint | None = None
        self.current: pytest.Item | None = None
        self._prefetcher: Prefetcher | None = None
        # `markers.settings_key` -> the settings those markers give: one object for the
        # 100,000 cases of one parametrized test.
        self._settings_of: dict[tuple[str, tuple[int, ...]], tuple[CaseSettings, Any]] = {}

    # -- the endpoint -----------------------------------------------------------------------

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            from pytest_llmeval.calls.endpoint import Endpoint

            self._endpoint = Endpoint(settings_of_endpoint(self.settings, self.api_key))
        return self._endpoint

    @property
    def prefetcher(self) -> Prefetcher:
        if self._prefetcher is None:
            self._prefetcher = Prefetcher(
                self.endpoint, self.recorder, self.config, window=self.settings.concurrency * 4
            )
        return self._prefetcher

    def run_batch(self, items: list[pytest.Item], progress: Callable[[str], None] | None) -> Any:
        """`--llm-batch`: the first request of every dataset case in `items` through one batch
        job, its answers recorded; returns `run.batch` (a dict). A request the batch could not
        answer is its case's infrastructure error (`Prefetcher.batch_failures`)."""
        from pytest_llmeval.calls.batch import BatchInterrupted, BatchRequest, BatchRunner, run_once
        from pytest_llmeval.calls.request_body import chat_store_request

        model = self.settings.model
        assert model is not None
        lines = []
        for item in items:
            found = request_of(item) if "llm_reply" in getattr(item, "fixturenames", ()) else None
            request = chat_store_request(model, *found) if found is not None else None
            if request is not None:
                run = run_index(item)
                sample = run if run is not None and run < self.settings.repeat else 0
                lines.append(BatchRequest(request, sample))
        runner = BatchRunner(self.endpoint, progress=progress)
        workerinput = getattr(self.config, "workerinput", None)
        run_id = workerinput.get("testrunuid") if isinstance(workerinput, dict) else None
        lock = self.settings.store / ".llmeval-batch.lock"
        try:
            outcome = run_once(
                lock, run_id, lambda: runner.run(lines, model, self.settings.batch_job)
            )
        except BatchInterrupted as error:
            pytest.exit(f"llmeval: {error}", returncode=pytest.ExitCode.INTERRUPTED)
        self.prefetcher.batch_failures = outcome.failed
        return outcome.summary.to_dict()

    def model_card(self, model_id: str) -> dict[str, Any]:
        """The JSON of a model's card, read once and recorded in the store."""
        return self.endpoint.model_card(model_id)

    def close(self) -> None:
        if self._endpoint is not None:
            self._endpoint.close()

    # -- collection ---------------------------------------------------------------------------

    def check_item(self, item: pytest.Item) -> str | None:
        """Stashes an eval case's settings; returns a collection error message, if any."""
        if not is_eval_case(item):
            return None
        key, marks = settings_key(item)
        known = self._settings_of.get(key)
        if known is None:
            try:
                known = self._settings_of[key] = (case_settings(item), marks)
            except MarkerError as error:
                return str(error)
        item.stash[SETTINGS_KEY] = known[0]  # shared by the items of one set of markers
        if "llm_reply" in getattr(item, "fixturenames", ()) and case_of(item) is None:
            return NO_CASE
        return None

    def check_collect_report(self, report: pytest.CollectReport) -> pytest.CollectReport:
        """Turns bad llm markers into one collection error, each distinct problem said once
        with the count and the first case (a misspelt argument of a 14-case parametrize is
        one line, not 14); `-v` lists every case under it."""
        from pytest_llmeval.report.repeated import gather

        problems = [
            (item.nodeid, problem)
            for item in report.result
            if isinstance(item, pytest.Item) and (problem := self.check_item(item)) is not None
        ]
        if problems:
            verbose = self.config.get_verbosity() > 0
            lines = []
            for repeated in gather(problems):
                lines.append(f"{repeated.first}: {repeated.message}" + _more(repeated.count))
                if verbose and repeated.count > 1:
                    lines += [f"  also {nodeid}" for nodeid in repeated.nodeids[1:]]
            report.outcome = "failed"
            report.longrepr = "\n".join(lines)
            report.result = []
        return report

    # -- the first check ----------------------------------------------------------------------

    def first_check(self, items: Sequence[pytest.Item]) -> str | None:
        """Before the first case: every model the run names is one the server serves.

        The roles checked are those the collected eval cases use (a suite that never
        judges has no judge to check); each card is read once and recorded in the store, so
        a replay checks offline. Returns the one line naming an id the server does not
        serve (its card is a 404), else None. Anything else a card read runs into (no key,
        a dead endpoint, a replay-only store recorded before cards were) is left to the
        cases, which report it as they always did.
        """
        model = self.settings.model
        if not model:
            return None
        from pytest_llmeval.calls.served_models import roles_in_use
        from pytest_llmeval.errors import ReplayMissError
        from pytest_llmeval.improvement.model_cards import ROLE_OPTIONS

        settings = self.settings
        models: dict[str, str] = {
            "model": model,
            "judge": settings.judge_model,
            "moderation": settings.moderation_model,
        }
        cases = (getattr(item, "fixturenames", ()) for item in items if SETTINGS_KEY in item.stash)
        for role in roles_in_use(cases):
            model_id = models[role]
            try:
                self.endpoint.model_card(model_id)
            except ReplayMissError:
                continue
            except LLMAPIError as error:
                if error.status_code != 404:
                    continue
                return self._unknown_model(ROLE_OPTIONS[role], model_id)
        return None

    def _unknown_model(self, option: str, model_id: str) -> str:
        from pytest_llmeval.calls.served_models import unknown_model_line

        try:
            served: list[str] | None = self.endpoint.served_model_ids()
        except LLMAPIError:
            served = None
        server = self.settings.server_url or "Mistral's API"
        return self.scrubber.text(unknown_model_line(option, model_id, server, served))

    def start_progress(self, session: pytest.Session) -> None:
        """Shows the live progress line where it is wanted (see `session/progress.py`)."""
        import os
        import sys

        from pytest_llmeval.session.progress import wanted

        config = self.config
        xdist = hasattr(config, "workerinput") or bool(getattr(config.option, "numprocesses", 0))
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        writer = getattr(reporter, "_tw", None)  # pytest's TerminalWriter: its width and column
        try:
            tty = sys.stdout.isatty()
        except (AttributeError, ValueError):
            tty = False
        ci = bool(os.environ.get("CI"))
        verbosity = config.get_verbosity()
        if writer is None or not wanted(verbosity=verbosity, tty=tty, ci=ci, xdist=xdist):
            return
        cases = [item.nodeid for item in session.items if SETTINGS_KEY in item.stash]
        if not cases:
            return
        try:
            fd = os.dup(sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            return
        from pytest_llmeval.calls.meter import CallMeter
        from pytest_llmeval.session.progress import ProgressLine

        self.endpoint.meter = meter = CallMeter(self._price())
        line = ProgressLine(meter, writer, fd, tty=tty, cases=cases)
        config.pluginmanager.register(line, PROGRESS_NAME)
        line.start()

    def _price(self) -> Callable[[str, int, int], float | None]:
        from pytest_llmeval.report.pricing import shipped_table

        table = self.settings.prices if self.settings.prices is not None else shipped_table()

        def price(model: str, prompt: int, completion: int) -> float | None:
            found = table.price_of(model)
            return None if found is None else found.cost(prompt, completion)

        return price

    # -- running ------------------------------------------------------------------------------

    def recorder(self, item: pytest.Item) -> CaseRecorder | None:
        settings = item.stash.get(SETTINGS_KEY, None)
        if settings is None:
            return None
        recorder = item.stash.get(RECORDER_KEY, None)
        if recorder is None:
            recorder = item.stash[RECORDER_KEY] = CaseRecorder(item.nodeid, settings.group)
            run, runs = run_index(item), self.settings.repeat
            if run is not None and run < runs:
                recorder.samples = SampleCounter(offset=run, stride=runs)
                recorder.run = run
                recorder.case_nodeid = case_nodeid(item.nodeid, run, runs)
            case = case_of(item)
            recorder.human_score = case.human_score if case is not None else None
            recorder.shard_order = item.stash.get(SHARD_ORDER_KEY, None)
        return recorder

    def current_recorder(self) -> CaseRecorder | None:
        return self.recorder(self.current) if self.current is not None else None

    def current_settings(self) -> CaseSettings | None:
        return self.current.stash.get(SETTINGS_KEY, None) if self.current is not None else None

    def start_item(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        self.current = item
        if self.settings.model and SETTINGS_KEY in item.stash:
            # Here, before the case's setup: a reply is read or sent outside its duration. The
            # SDK is imported and the client started by the first request that needs them.
            self.prefetcher.start(item, nextitem)

    def finish_item(self) -> None:
        """After a case's protocol: its record rides on its report, so what it was made from
        (the recorder, the prefetched reply) goes, and a session holds each case once."""
        item, self.current = self.current, None
        if item is not None:
            _forget(item.stash, RECORDER_KEY)
            _forget(item.stash, REPLY_KEY)
            _forget(item.stash, SETUP_DURATION_KEY)

    def reply_for(self, item: pytest.Item) -> Reply:
        if not self.settings.model:
            pytest.skip(NO_MODEL)
        reply = self.prefetcher.reply(item)
        if reply is None:
            raise pytest.UsageError(f"{item.nodeid}: {NO_CASE}")
        case, settings = case_of(item), item.stash.get(SETTINGS_KEY, None)
        # The tools the request offered, as the prefetcher sent them: the marker's, else the
        # dataset row's.
        tools = settings.params.get("tools") if settings is not None else None
        if tools is None and case is not None:
            tools = case.meta.get("tools")
        if tools:
            reply = with_offered_tools(reply, tools)
        if case is not None and settings is not None:
            self.note_exchange(item, to_messages(case.messages, settings.system), reply)
        return reply

    def note_exchange(self, item: pytest.Item | None, messages: Any, reply: Reply) -> None:
        """Keeps the request and reply on the case's record, with its dataset case's
        expected reply and tags, for the report, the hard-case export and clusters."""
        recorder = self.recorder(item) if item is not None else None
        if recorder is None:
            return
        case = case_of(item) if item is not None else None
        recorder.add_exchange(
            messages,
            reply.text,
            expected=case.expected if case is not None else None,
            tags=case.meta.get("tags") if case is not None else None,
            dataset=case.source.rpartition(":")[0] if case is not None else None,
        )

    # -- fixtures' behaviour ------------------------------------------------------------------

    def check_json(self, reply_or_text: Reply | str, schema: Any, strict: bool) -> Any:
        __tracebackhide__ = True
        from pytest_llmeval.strict_json import failure_message, parse_json

        text = str(reply_or_text)
        finish = getattr(reply_or_text, "finish_reason", None)
        parsed = parse_json(text, schema, strict, finish_reason=finish)
        recorder = self.current_recorder()
        if recorder is not None:
            recorder.add_format_check(parsed.category, parsed.detail)
        if not parsed.ok:
            message = failure_message(parsed, text, finish)
            raise JsonFormatError(message, category=parsed.category, detail=parsed.detail)
        return parsed.value

    def check_tool_call(self, reply: Reply, name: str | None) -> Any:
        """`llm_json.tool_call`: the first tool call's parsed arguments, or JsonFormatError;
        the category recorded as `llm_json`'s are."""
        __tracebackhide__ = True
        from pytest_llmeval.calls.tool_calls import check_tool_call
        from pytest_llmeval.strict_json import failure_message

        tool_calls = getattr(reply, "tool_calls", None)
        if not isinstance(tool_calls, list):
            raise TypeError(
                "llm_json.tool_call(reply): give the Reply of llm.chat(..., tools=[...]),"
                f" not {type(reply).__name__}"
            )
        parsed, call = check_tool_call(
            tool_calls,
            reply.offered_tools,
            name=name,
            text=reply.text,
            finish_reason=reply.finish_reason,
        )
        recorder = self.current_recorder()
        if recorder is not None:
            recorder.add_format_check(parsed.category)
        if parsed.ok:
            return parsed.value
        if call is not None and parsed.category != "unknown_tool":
            line = failure_message(parsed, call.arguments, reply.finish_reason)
            category, _, rest = line.partition(": ")
            message = f"{category}: the arguments of {call.name}: {rest}"
        else:
            message = f"{parsed.category}: {parsed.detail}"
        raise JsonFormatError(message, category=parsed.category, detail=parsed.detail)

    def record_score(self, name: str, value: float) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"llm_score(name, value): name must be a non-empty string, not {name!r}"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise TypeError(
                f"llm_score({name!r}, value): value must be a finite number, not {value!r}"
            )
        recorder = self.current_recorder()
        if recorder is not None:
            recorder.add_score(name, float(value))

    def make_record(self, item: pytest.Item, call: pytest.CallInfo[None]) -> CaseRecord | None:
        """The case record of a finished setup or call phase, which the JUnit XML also gets as
        the test's properties; None when there is none to count."""
        recorder = self.recorder(item)
        if recorder is None:
            return None
        excinfo = call.excinfo
        # One record per case: from the call phase, or from a setup that failed (e.g. the
        # llm_reply fixture raising LLMAPIError). Teardown problems stay plain pytest errors.
        if call.when == "setup" and excinfo is None:
            # A dataset case waits for its reply in setup: that time is part of the case.
            item.stash[SETUP_DURATION_KEY] = call.duration
            return None
        if call.when == "teardown":
            return None
        if excinfo is not None and excinfo.errisinstance(
            (pytest.skip.Exception, pytest.xfail.Exception)
        ):
            return None
        if item.get_closest_marker("xfail") is not None:
            return None
        duration = call.duration + item.stash.get(SETUP_DURATION_KEY, 0.0)
        error = None if excinfo is None else excinfo.value
        message = None if error is None else self.scrubber.text(_message(error))
        ending = classify_outcome(call.when, error)
        record = recorder.to_record(duration_s=duration, message=message, **ending._asdict())
        item.user_properties.extend(junit_properties(record))
        return record

    def not_counted_record(
        self, item: pytest.Item, report: pytest.TestReport
    ) -> NotCountedRecord | None:
        """The record of an eval case that was skipped or xfailed (its setup or call report),
        else None. A case skipped for want of a model is the no-model rule's, not this."""
        settings = item.stash.get(SETTINGS_KEY, None)
        if settings is None or report.when == "teardown":
            return None
        xfail = getattr(report, "wasxfail", None)
        if xfail is None and not report.skipped:
            return None
        if xfail is None:
            reason = skip_reason(report)
            if reason == NO_MODEL:
                return None
        else:
            reason = str(xfail) or None
        group = settings.group
        return {
            "nodeid": item.nodeid,
            "group": group.group,
            "kind": group.kind,
            "outcome": "skipped" if xfail is None else "xfailed",
            "reason": None if reason is None else self.scrubber.text(reason)[:300],
            "threshold": group.threshold,
            "min_score": group.min_score,
            "max_unsafe": group.max_unsafe,
        }

    def one_line_error(self, call: pytest.CallInfo[None]) -> str | None:
        """An infrastructure error's one line under the default `--tb` (its frames are the
        SDK's and httpx2's, not the test's), else None; `--tb=long` or `-v` keep the chain.

        Called before pytest formats the report: the traceback is cut to its first entry,
        as formatting sixty frames of the SDK costs more than the failed call did.
        """
        option = self.config.option
        if call.excinfo is None or not isinstance(call.excinfo.value, LLMAPIError):
            return None
        if getattr(option, "tbstyle", "auto") not in ("auto", "short") or option.verbose > 0:
            return None
        call.excinfo.traceback = call.excinfo.traceback[:1]
        error = call.excinfo.value
        return f"{type(error).__name__}: {printable(_message(error))}"


def _forget(stash: pytest.Stash, key: pytest.StashKey[Any]) -> None:
    if key in stash:
        del stash[key]


def _more(count: int) -> str:
    """` (the same for 14 cases; -v lists them)` after a problem's first case, or ''."""
    return f" (the same for {count} cases; -v lists them)" if count > 1 else ""


def _message(error: BaseException) -> str:
    """The error's own words; its type travels separately as `error_type`."""
    return str(error) or type(error).__name__


class ModelUnderTest:
    """The `llm` fixture: `llm.chat(messages_or_text, *, system=None, **params) -> Reply`."""

    def __init__(self, session: EvalSession) -> None:
        self._session = session

    @property
    def model(self) -> str | None:
        return self._session.settings.model

    @property
    def model_info(self) -> ModelInfo:
        """The model card; a fine-tuned model's `.root` is its base model. Fetched once."""
        return self._session.endpoint.model_info(recorder=self._session.current_recorder())

    def chat(self, messages_or_text: Any, *, system: str | None = None, **params: Any) -> Reply:
        settings = self._session.current_settings()
        if settings is not None:
            system = system if system is not None else settings.system
            params = {**settings.params, **params}
        messages = to_messages(getattr(messages_or_text, "messages", messages_or_text), system)
        reply = self._session.endpoint.chat(
            messages, params, recorder=self._session.current_recorder()
        )
        if params.get("tools"):
            reply = with_offered_tools(reply, params["tools"])
        self._session.note_exchange(self._session.current, messages, reply)
        return reply

    def run_tools(
        self,
        messages_or_text: Any,
        tools: Sequence[Any],
        functions: Mapping[str, Callable[..., Any]],
        max_turns: int = 5,
        *,
        system: str | None = None,
        **params: Any,
    ) -> Conversation:
        """Sends the messages with `tools`, runs each function the model calls (its return
        value, JSON-encoded, is the `tool` message), and sends again until a reply calls no
        tool: at most `max_turns` requests, each recorded and replayed as `chat`'s."""
        from pytest_llmeval.calls.conversation import run_tools

        settings = self._session.current_settings()
        if system is None and settings is not None:
            system = settings.system
        messages = to_messages(getattr(messages_or_text, "messages", messages_or_text), system)

        def send(history: list[dict[str, Any]]) -> Reply:
            return self.chat(history, system=system, tools=list(tools), **params)

        return run_tools(send, messages, tools, functions, max_turns)


class JsonChecks:
    """The `llm_json` fixture: `llm_json(reply_or_text, schema=None, strict=True)` checks
    JSON text, `llm_json.tool_call(reply, name=None)` a reply's first tool call."""

    def __init__(self, session: EvalSession) -> None:
        self._session = session

    def __call__(self, reply_or_text: Reply | str, schema: Any = None, strict: bool = True) -> Any:
        __tracebackhide__ = True
        return self._session.check_json(reply_or_text, schema, strict)

    def tool_call(self, reply: Reply, name: str | None = None) -> Any:
        __tracebackhide__ = True
        return self._session.check_tool_call(reply, name)


def with_offered_tools(reply: Reply, tools: Any) -> Reply:
    """`reply`, knowing the tools its request offered (`llm_json.tool_call` checks them)."""
    from pytest_llmeval.calls.tool_calls import offered_tools

    return dataclasses.replace(reply, offered_tools=offered_tools(tools))
