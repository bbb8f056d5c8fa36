"""`--llm-shard=K/N`: the eval cases of the other shards deselected, by a hash of each case's id.

A case's id is its node id with the `--llm-repeat` run taken out, so every run of a case lands
in the same shard, and the hash reads the id alone (`report.merge.shard_index`), so a case
stays in its shard whatever else the suite holds. Ordinary tests are not eval cases and run
in every shard.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.report.merge import Shard, suite_digest
from pytest_llmeval.session.markers import SETTINGS_KEY, SHARD_ORDER_KEY
from pytest_llmeval.session.repeat import case_nodeid, run_index


def case_id(item: pytest.Item, runs: int) -> str:
    """The id a case is sharded by: its node id without the `--llm-repeat` run."""
    run = run_index(item)
    return case_nodeid(item.nodeid, run, runs) if run is not None and runs > 1 else item.nodeid


def split(
    config: pytest.Config, items: list[pytest.Item], spec: tuple[int, int], runs: int
) -> dict[str, Any]:
    """Keeps this shard's eval cases in `items` (and every other test), deselects the rest
    through `pytest_deselected`; returns `run.suite`: what the merge checks the shards by."""
    from pytest_llmeval.improvement.ledger import suite_of

    shard = Shard(*spec)
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    ids: set[str] = set()
    position = 0
    for item in items:
        if SETTINGS_KEY not in item.stash:
            kept.append(item)
            continue
        identity = case_id(item, runs)
        ids.add(identity)
        item.stash[SHARD_ORDER_KEY] = position
        position += 1
        (kept if shard.holds(identity) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    return {
        "name": suite_of(list(config.args), config.rootpath),
        "eval_cases": position,
        "digest": suite_digest(ids),
    }
