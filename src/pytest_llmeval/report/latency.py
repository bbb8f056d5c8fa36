"""The report's `latency`: the model under test's per-call times, tallied and put in words.

Only calls answered live are timed (a case record's `timings`); a replay took no model's time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pytest_llmeval.report.model import LatencySummary, Report
from pytest_llmeval.report.stats import percentile
from pytest_llmeval.report.wording import plural


class LatencyTally:
    """The timed calls of every record, their whole answers' and first tokens' seconds."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.first_tokens: list[float] = []

    def add(self, timings: Mapping[str, Any]) -> None:
        """A record's `timings`; anything but a finite number of seconds is left out."""
        for seconds, found in (
            (timings.get("latency_s"), self.latencies),
            (timings.get("first_token_s"), self.first_tokens),
        ):
            if isinstance(seconds, list):
                found.extend(
                    float(item)
                    for item in seconds
                    if type(item) in (int, float) and math.isfinite(item) and item >= 0
                )

    def summary(self) -> LatencySummary:
        return LatencySummary(
            timed_calls=len(self.latencies),
            p50_s=percentile(self.latencies, 0.5),
            p95_s=percentile(self.latencies, 0.95),
            timed_streams=len(self.first_tokens),
            ttft_p50_s=percentile(self.first_tokens, 0.5),
            ttft_p95_s=percentile(self.first_tokens, 0.95),
        )


def latency_lines(report: Report) -> list[str]:
    """`Latency: p50 0.42 s, p95 1.10 s over 60 live calls; first token p50 0.08 s, p95 0.12 s
    over 5 streams`, for the terminal and Markdown alike (numbers only, nothing to escape);
    none when no call was live (a replay times nothing)."""
    latency = report.latency
    if latency.p50_s is None or latency.p95_s is None:
        return []
    line = (
        f"Latency: p50 {latency.p50_s:.2f} s, p95 {latency.p95_s:.2f} s over"
        f" {plural(latency.timed_calls, 'live call')}"
    )
    if latency.ttft_p50_s is not None and latency.ttft_p95_s is not None:
        line += (
            f"; first token p50 {latency.ttft_p50_s:.2f} s, p95 {latency.ttft_p95_s:.2f} s"
            f" over {plural(latency.timed_streams, 'stream')}"
        )
    return [line]
