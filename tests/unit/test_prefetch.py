"""Which upcoming items the prefetcher looks at, and reading xdist's pending queue."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_llmeval.session.prefetch import Prefetcher, xdist_pending


class _Queue:
    """Shaped as xdist's `TestQueue`: `lock()` yields the pending indices."""

    def __init__(self, pending: list[int]) -> None:
        self._items = collections.deque(pending)

    @contextlib.contextmanager
    def lock(self) -> Iterator[collections.deque[int]]:
        yield self._items


def _config(*plugins: Any, worker: bool = True) -> pytest.Config:
    config = SimpleNamespace(
        stash=pytest.Stash(),
        pluginmanager=SimpleNamespace(get_plugins=lambda: list(plugins)),
    )
    if worker:
        config.workerinput = {"workerid": "gw0"}
    return cast(pytest.Config, config)


def test_without_xdist_there_is_no_pending_queue() -> None:
    assert xdist_pending(_config(SimpleNamespace(torun=_Queue([1])), worker=False)) is None


def test_a_worker_reads_the_indices_it_was_given() -> None:
    assert xdist_pending(_config(object(), SimpleNamespace(torun=_Queue([4, 7])))) == [4, 7]


@pytest.mark.parametrize(
    "plugin",
    [object(), SimpleNamespace(torun=None), SimpleNamespace(torun=SimpleNamespace(lock=1))],
    ids=["no queue", "queue is None", "lock is not a context manager"],
)
def test_a_queue_xdist_no_longer_has_reads_as_nothing_pending(plugin: Any) -> None:
    assert xdist_pending(_config(plugin)) == []


def _items(count: int) -> list[Any]:
    session = SimpleNamespace(items=[])
    items = [SimpleNamespace(nodeid=f"t::{n}", session=session) for n in range(count)]
    session.items = items
    return items


def _upcoming(config: pytest.Config, item: Any, nextitem: Any, window: int = 4) -> list[str]:
    prefetcher = Prefetcher(cast(Any, None), lambda item: None, config, window=window)
    return [found.nodeid for found in prefetcher._upcoming(item, nextitem)]


def test_an_unreadable_queue_falls_back_to_the_current_and_next_item() -> None:
    items = _items(10)
    broken = _config(SimpleNamespace(torun=SimpleNamespace(lock=1)))
    assert _upcoming(broken, items[2], items[3]) == ["t::2", "t::3"]


def test_a_readable_queue_adds_the_pending_items_up_to_the_window() -> None:
    items = _items(10)
    queue = _config(SimpleNamespace(torun=_Queue([5, 6, 7, 8, 9, 42])))
    assert _upcoming(queue, items[2], items[3], window=3) == [
        "t::2",
        "t::3",
        "t::5",
        "t::6",
        "t::7",
    ]


def test_without_xdist_the_window_is_topped_up_when_half_of_it_has_run() -> None:
    items = _items(20)
    config = _config(worker=False)
    prefetcher = Prefetcher(cast(Any, None), lambda item: None, config, window=4)
    seen = [[found.nodeid for found in prefetcher._upcoming(item, None)] for item in items[:5]]
    assert seen[0] == ["t::0", "t::1", "t::2", "t::3", "t::4"]
    assert seen[1] == [] and seen[2] == []
    assert seen[3] == ["t::5", "t::6", "t::7"]
