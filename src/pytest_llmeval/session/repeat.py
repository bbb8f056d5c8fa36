"""`--llm-repeat=N`: every eval case parametrized into N runs, and which run an item is."""

from __future__ import annotations

import pytest

from pytest_llmeval.session.markers import is_eval_case

# The parameter each run carries; private, so no test can ask for it by accident.
RUN_PARAM = "_llmeval_run"


def run_id(index: int, count: int) -> str:
    """The id a run adds to its node id: `run-2-of-3` for the second of three (index 1)."""
    return f"run-{index + 1}-of-{count}"


def parametrize(metafunc: pytest.Metafunc, count: int) -> None:
    """Give an eval case `count` runs, each its own item (so xdist spreads them, and the
    terminal and JUnit XML show each); ordinary tests are left alone."""
    if count < 2 or RUN_PARAM in metafunc.fixturenames or not is_eval_case(metafunc.definition):
        return
    metafunc.fixturenames.append(RUN_PARAM)
    metafunc.parametrize(
        RUN_PARAM, range(count), ids=[run_id(index, count) for index in range(count)]
    )


def run_index(item: pytest.Item) -> int | None:
    """Which run of its case an item made by `parametrize` is (0-based); None otherwise."""
    callspec = getattr(item, "callspec", None)
    index = callspec.params.get(RUN_PARAM) if callspec is not None else None
    return index if isinstance(index, int) else None


def case_nodeid(nodeid: str, index: int, count: int) -> str:
    """The node id of the case a run belongs to: the run's id taken out of its brackets.

    `t.py::test[case-3-run-2-of-3]` -> `t.py::test[case-3]`; `t.py::test[run-1-of-3]` ->
    `t.py::test`.
    """
    token = run_id(index, count)
    for found, replacement in ((f"[{token}]", ""), (f"-{token}]", "]"), (f"[{token}-", "[")):
        if found in nodeid:
            head, _, tail = nodeid.rpartition(found)
            return head + replacement + tail
    return nodeid.replace(f"-{token}", "", 1)
