"""How model calls are retried: backoff with jitter, a server's Retry-After, a time budget."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx2


@dataclass(frozen=True)
class RetryPolicy:
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
        if response is not None:
            asked = retry_after_seconds(response.headers)
            if asked is not None:
                # A floor, so that `Retry-After: 0` on every answer is not a busy loop.
                return max(asked, self.min_server_delay_s)
        # The exponent is capped before it can overflow a float; max_delay_s caps the rest.
        backoff = min(self.max_delay_s, self.initial_delay_s * 2.0 ** min(retry_number - 1, 60))
        return float(backoff + random.uniform(0.0, self.jitter_s))


def retry_after_seconds(headers: httpx2.Headers) -> float | None:
    """The delay a 429/503 asks for through `retry-after-ms` or `Retry-After`, if any."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
