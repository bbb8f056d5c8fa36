"""Values the options resolve to that several layers share: small, and loaded by every session.

options.py builds them; the replay, report and ledger layers read them. Nothing here imports
the rest of the package, so a session without eval cases pays for this file and no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

#: The `--llm-baseline` value that takes the baseline from the ledger.
LAST_PASSED = "ledger:last-passed"


class RecordMode(str, Enum):
    """`--llm-record-mode`: replay only; replay hits and record misses; record everything."""

    NONE = "none"
    NEW_EPISODES = "new_episodes"
    ALL = "all"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


@dataclass(frozen=True)
class GateSettings:
    """The gate's limits, from `--llm-format-threshold`, `--llm-max-errors`, `--llm-max-drop`.

    No defaults here: options.py builds it, the one place that knows them.
    """

    format_threshold: float
    max_errors: int
    max_drop: float
    alpha: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.format_threshold <= 1.0:
            raise ValueError(f"format_threshold must be within [0, 1], got {self.format_threshold}")
        if self.max_errors < 0:
            raise ValueError(f"max_errors must be 0 or more, got {self.max_errors}")
        if not 0.0 <= self.max_drop <= 1.0:
            raise ValueError(f"max_drop must be within [0, 1], got {self.max_drop}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")

    def to_dict(self) -> dict[str, float | int]:
        return {
            "format_threshold": self.format_threshold,
            "max_errors": self.max_errors,
            "max_drop": self.max_drop,
            "alpha": self.alpha,
        }
