"""Prefetching `llm_reply`: the replies of the next dataset cases are read or sent ahead."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmeval.case_record import CaseRecorder
from pytest_llmeval.data.datasets import Case
from pytest_llmeval.errors import LLMAPIError
from pytest_llmeval.session.markers import SETTINGS_KEY
from pytest_llmeval.support.messages import to_messages

if TYPE_CHECKING:
    from pytest_llmeval.calls.endpoint import Endpoint, Reply

REPLY_KEY = pytest.StashKey["concurrent.futures.Future[Reply]"]()
_QUEUE_OWNER_KEY = pytest.StashKey[Any]()


def case_of(item: pytest.Item) -> Case | None:
    """The dataset case an item is parametrized with (its `case` parameter), if any."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("case") if callspec is not None else None
    return value if isinstance(value, Case) else None


def xdist_pending(config: pytest.Config) -> list[Any] | None:
    """The item indices an xdist worker has been given but not run yet; None without xdist.

    This reads pytest-xdist's private queue (`WorkerInteractor.torun`, whose `lock()` yields
    the pending indices), so that each worker prefetches only what it will run and no
    request is sent twice. xdist does not promise that queue: when it is not there or not
    shaped so, this returns [] and prefetching falls back to the current and next item
    (`nextitem`), which is slower but never wrong.
    """
    if not hasattr(config, "workerinput"):
        return None
    if _QUEUE_OWNER_KEY not in config.stash:
        config.stash[_QUEUE_OWNER_KEY] = next(
            (p for p in config.pluginmanager.get_plugins() if hasattr(p, "torun")), None
        )
    queue: Any = getattr(config.stash[_QUEUE_OWNER_KEY], "torun", None)
    try:
        with queue.lock() as pending:
            return list(pending)
    except (AttributeError, TypeError):
        return []


def request_of(item: pytest.Item) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The messages and parameters of a dataset case's request; None without a case."""
    case = case_of(item)
    settings = item.stash.get(SETTINGS_KEY, None)
    if case is None or settings is None:
        return None
    params = dict(settings.params)
    if "tools" in case.meta and "tools" not in params:
        # A function-calling sample's tools are part of its request, as in fine-tuning.
        params["tools"] = case.meta["tools"]
    return to_messages(case.messages, settings.system), params


class Prefetcher:
    """Keeps the replies of the next `window` dataset cases in flight while tests run in order.

    Without xdist it walks `session.items`: each item is looked at once, and the window is
    topped up when half of it has run, so replays read from the store come in runs rather
    than one per test. Under xdist it reads the worker's pending queue (`xdist_pending`).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        recorder: Callable[[pytest.Item], CaseRecorder | None],
        config: pytest.Config,
        window: int,
    ) -> None:
        self._endpoint = endpoint
        self._recorder = recorder
        self._config = config
        self._window = window
        self._order: dict[str, int] = {}
        self._looked_ahead = 0  # items before this index were prefetched already
        # --llm-batch: why the batch did not answer a request, by its key (`digest-sample`).
        self.batch_failures: dict[str, str] = {}

    def start(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Prefetches from `item` on, before its setup."""
        for upcoming in self._upcoming(item, nextitem):
            if REPLY_KEY not in upcoming.stash and "llm_reply" in getattr(
                upcoming, "fixturenames", ()
            ):
                self.submit(upcoming)

    def reply(self, item: pytest.Item) -> Reply | None:
        """The item's reply, waited for: prefetched, else asked now; None without a case."""
        future = item.stash.get(REPLY_KEY, None) or self.submit(item)
        return None if future is None else future.result()

    def submit(self, item: pytest.Item) -> concurrent.futures.Future[Reply] | None:
        """Reads the item's recorded reply, or sends its request; None without a case."""
        found = request_of(item)
        if found is None:
            return None
        messages, params = found
        recorder = self._recorder(item)
        future: concurrent.futures.Future[Reply]
        failure = self._batch_failure(messages, params, recorder) if self.batch_failures else None
        if failure is not None:  # its batch line failed: not sent again, live or otherwise
            future = concurrent.futures.Future()
            future.set_exception(failure)
            item.stash[REPLY_KEY] = future
            return future
        try:
            # A recorded reply is read here and now: cheaper than a trip to the loop thread.
            reply = self._endpoint.replayed_chat(messages, params, recorder=recorder)
        except Exception:  # an unreadable store: the SDK's path reports it on this case
            reply = None
        if reply is not None:
            future = concurrent.futures.Future()
            future.set_result(reply)
        else:
            future = self._endpoint.submit_chat(messages, params, recorder=recorder)
        item.stash[REPLY_KEY] = future
        return future

    def _batch_failure(
        self, messages: list[dict[str, Any]], params: dict[str, Any], recorder: CaseRecorder | None
    ) -> LLMAPIError | None:
        """The infrastructure error of a request whose batch line failed, else None."""
        from pytest_llmeval.calls.request_body import CHAT_PATH, chat_store_request
        from pytest_llmeval.replay.keys import recording_name

        model = self._endpoint.settings.model
        request = chat_store_request(model, messages, params) if model else None
        if request is None:
            return None
        sample = recorder.run if recorder is not None and recorder.run is not None else 0
        problem = self.batch_failures.get(recording_name(request, sample))
        if problem is None:
            return None
        return LLMAPIError(
            f"{CHAT_PATH} (model {model}): {problem} (--llm-batch)",
            endpoint=CHAT_PATH,
            model=model,
        )

    def _upcoming(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[pytest.Item]:
        items: Sequence[pytest.Item] = item.session.items
        pending = xdist_pending(self._config)
        if pending is not None:
            # xdist takes the next index off its queue before running this test.
            yield item
            if nextitem is not None:
                yield nextitem
            for index in pending[: self._window]:
                if isinstance(index, int) and 0 <= index < len(items):
                    yield items[index]
            return
        if not self._order:
            self._order = {candidate.nodeid: index for index, candidate in enumerate(items)}
        start = self._order.get(item.nodeid)
        if start is None:
            yield item
            if nextitem is not None:
                yield nextitem
            return
        end = start + self._window + 1
        if self._looked_ahead - start > self._window // 2:
            return
        begin, self._looked_ahead = max(start, self._looked_ahead), end
        yield from items[begin:end]
