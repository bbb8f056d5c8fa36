"""Whether a run is complete (every collected eval case ran) and, if not, why it is a subset."""

from __future__ import annotations

from pytest_llmeval.report.wording import plural


def subset_reasons(
    *,
    deselected: int = 0,
    not_run: int = 0,
    stop_reason: str | None = None,
    last_failed: bool = False,
    stepwise: bool = False,
    shard: str | None = None,
) -> list[str]:
    """Why a run is a subset run, one phrase a reason; empty for a complete run.

    A subset run's pass rates describe the cases it picked, not the suite: its report says
    so, its ledger line is not `complete`, and `ledger:last-passed` never takes it as the
    baseline.
    """
    reasons: list[str] = []
    if deselected:
        reasons.append(f"{plural(deselected, 'eval case')} deselected (-k, -m or --deselect)")
    if last_failed:
        reasons.append("--lf ran the last failures only")
    if stepwise:
        reasons.append("--sw (stepwise) skips and stops")
    if shard:
        reasons.append(f"shard {shard}")
    if not_run:
        why = f" ({stop_reason})" if stop_reason else ""
        reasons.append(f"{not_run} did not run{why}")
    return reasons
