"""The gate's run-wide limits, which the options build and the report's rules read."""

from __future__ import annotations

from dataclasses import dataclass


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
