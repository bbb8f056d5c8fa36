"""Live figures of the model calls so far (done, in flight, tokens, cost) for the progress line."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

#: The price of a call's tokens, or None when the model has no price.
Pricer = Callable[[str, int, int], "float | None"]


class MeterReading(NamedTuple):
    """The meter at one moment."""

    done: int
    in_flight: int
    tokens: int
    cost_usd: float
    replayed: int


class CallMeter:
    """Counts model calls as the endpoint starts and ends them, from any thread.

    Read by the progress line; nothing here affects a call. Cost is the list-price
    estimate of the tokens answered live (a replayed answer costs nothing now).
    """

    def __init__(self, price: Pricer | None = None) -> None:
        self._lock = threading.Lock()
        self._price = price
        self._done = 0
        self._in_flight = 0
        self._tokens = 0
        self._cost = 0.0
        self._replayed = 0

    def started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def finished(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._done += 1

    def replayed(self) -> None:
        """A call answered from the store without going through the loop."""
        with self._lock:
            self._done += 1
            self._replayed += 1

    def tokens(self, model: str, prompt: int, completion: int, *, live: bool) -> None:
        cost = self._price(model, prompt, completion) if live and self._price else None
        with self._lock:
            self._tokens += prompt + completion
            self._cost += cost or 0.0

    def reading(self) -> MeterReading:
        with self._lock:
            return MeterReading(
                self._done, self._in_flight, self._tokens, self._cost, self._replayed
            )


def progress_text(
    reading: MeterReading, *, cases_done: int, cases_total: int, elapsed_s: float
) -> str:
    """`llmeval: 12/25 cases, ETA 6 s, 8 calls in flight, 30 done, 4,210 tokens, est.
    $0.0031`: the ETA (from the pace of the cases so far, once one has finished) first, so a
    narrow terminal that cuts the line keeps it."""
    parts = [f"llmeval: {cases_done}/{cases_total} cases"]
    if 0 < cases_done < cases_total and elapsed_s > 0:
        remaining = elapsed_s / cases_done * (cases_total - cases_done)
        parts.append(f"ETA {_duration(remaining)}")
    parts += [
        f"{reading.in_flight} calls in flight",
        f"{reading.done} done",
        f"{reading.tokens:,} tokens",
        f"est. ${reading.cost_usd:.4f}",
    ]
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes, rest = divmod(round(seconds), 60)
    return (
        f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
    )
