"""How model calls are retried: backoff with jitter, a server's Retry-After, a time budget."""

from __future__ import annotations

import math
import random
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import httpx2


class RetryPolicy(NamedTuple):  # a NamedTuple: defined at every start-up (see options.py)
    """Exponential backoff with jitter, inside a bounded total time per call.

    No defaults here: options.py builds it (`retry_policy`), the one place for defaults.
    """

    timeout_s: float
    max_call_time_s: float
    initial_delay_s: float
    max_delay_s: float
    jitter_s: float
    min_server_delay_s: float

    def delay(self, retry_number: int, response: httpx2.Response | None) -> float:
        """Seconds to wait before retry `retry_number` (1-based); the server's word wins."""
        asked = self.server_delay(response)
        if asked is not None:
            return asked
        # The exponent is capped before it can overflow a float; max_delay_s caps the rest.
        backoff = min(self.max_delay_s, self.initial_delay_s * 2.0 ** min(retry_number - 1, 60))
        return float(backoff + random.uniform(0.0, self.jitter_s))

    def server_delay(self, response: httpx2.Response | None) -> float | None:
        """The wait a response's usable Retry-After asks for (at least the floor), or None."""
        if response is None:
            return None
        asked = retry_after_seconds(response.headers)
        # A floor, so that `Retry-After: 0` on every answer is not a busy loop.
        return None if asked is None else max(asked, self.min_server_delay_s)


def retry_after_seconds(headers: httpx2.Headers) -> float | None:
    """The delay a 429/503 asks for through `retry-after-ms` or `Retry-After`, if any.

    None for a value that means nothing (`nan`, `inf`, a negative number, text): the caller
    then backs off on its own instead of taking it as "now" and hammering the server.
    """
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000.0
    value = headers.get("retry-after")
    if not value:
        return None
    asked = _number(value)
    if asked is not None:
        return asked
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # A date in the past means "now"; only the floor keeps that from being a busy loop.
    return max(0.0, when.timestamp() - time.time())


def _number(text: str | None) -> float | None:
    """A finite, non-negative number of the header's text, else None."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
