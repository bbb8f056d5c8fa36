"""The report's `usage`: every case's calls, tokens, retries, store use and latency summed
as the records pass, so a big run keeps no case's usage in memory."""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from pytest_llmeval.case_record import USAGE_FIELDS
from pytest_llmeval.report.model import UsageSummary
from pytest_llmeval.report.pricing import PriceTable, estimate, tokens_by_model
from pytest_llmeval.report.stats import finite_number

# Usage maps summed at a time: enough that the sums run at C speed, few enough to hold.
BATCH = 1000
_COUNTS = tuple(key for key in USAGE_FIELDS if key != "latency_s")


class UsageTally:
    """`add` each case's usage map (`CaseUsage`), then read the `summary`."""

    def __init__(self) -> None:
        self._pending: list[Mapping[str, Any]] = []
        self._sums = dict.fromkeys(_COUNTS, 0)
        # Every finite latency, for one exact `math.fsum` at the end: a plain float sum of
        # 100,000 latencies drifts visibly.
        self._latencies = array("d")
        self._tokens: dict[str, list[int]] = {}

    def add(self, usage: Mapping[str, Any]) -> None:
        self._pending.append(usage)
        if len(self._pending) >= BATCH:
            self._fold()

    def _fold(self) -> None:
        usages, self._pending = self._pending, []
        try:  # the fast way, when every map has every figure as a number
            batch = {key: sum(map(itemgetter(key), usages)) for key in _COUNTS}
        except (KeyError, TypeError):  # a figure missing or None somewhere: sum with care
            batch = {
                key: sum(value for usage in usages if (value := usage.get(key))) for key in _COUNTS
            }
        for key, value in batch.items():
            self._sums[key] += value
        seconds = (finite_number(usage.get("latency_s")) for usage in usages)
        self._latencies.extend(value for value in seconds if value is not None)
        for model, (prompt, completion) in tokens_by_model(
            usage.get("by_model") for usage in usages
        ).items():
            total = self._tokens.setdefault(model, [0, 0])
            total[0] += prompt
            total[1] += completion

    def summary(self, prices: PriceTable | None = None) -> UsageSummary:
        """The sums; with `prices`, the tokens of each model priced (`pricing.estimate`)."""
        self._fold()
        sums = self._sums
        prompt_tokens, completion_tokens = sums["prompt_tokens"], sums["completion_tokens"]
        by_model = {
            model: (prompt, completion)
            for model, (prompt, completion) in sorted(self._tokens.items())
        }
        return UsageSummary(
            calls=int(sums["calls"]),
            prompt_tokens=int(prompt_tokens),
            completion_tokens=int(completion_tokens),
            total_tokens=int(prompt_tokens + completion_tokens),
            retries=int(sums["retries"]),
            store_hits=int(sums["store_hits"]),
            store_misses=int(sums["store_misses"]),
            latency_s=math.fsum(self._latencies),
            streamed=int(sums["streamed"]),
            by_model=by_model,
            cost=None if prices is None else estimate(prices, by_model),
        )
