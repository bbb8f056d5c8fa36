"""The gate: the rules a run must hold to be promoted, and the verdict with its reasons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pytest_llmeval.stats import format_p_value

if TYPE_CHECKING:
    from pytest_llmeval.report import BaselineDelta, GroupSummary, Report

INTERRUPTED_REASON = "interrupted: the session was stopped before every case ran"

# A drop of exactly --llm-max-drop is within tolerance; this absorbs float noise such as
# 0.85 - 0.90 == -0.05000000000000004.
_DROP_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GateSettings:
    """The gate's limits, from `--llm-format-threshold`, `--llm-max-errors`, `--llm-max-drop`."""

    format_threshold: float = 1.0
    max_errors: int = 0
    max_drop: float = 0.05
    alpha: float = 0.05

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


@dataclass
class GateResult:
    """The verdict: `passed` is True when every rule holds; one plain sentence per failure."""

    passed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "promote" if self.passed else "block"

    def to_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "verdict": self.verdict, "reasons": list(self.reasons)}


class GateRule(Protocol):
    """One gate rule. `check` returns the reasons it fails, an empty list when it holds.

    Users add their own through the plugin's hook; a rule reads the finished report (every
    figure is there) and must not change it. Example::

        class CostRule:
            name = "cost"

            def check(self, report):
                tokens = report.usage.prompt_tokens + report.usage.completion_tokens
                if tokens > 2_000_000:
                    return [f"the run used {tokens} tokens, more than the budget 2000000"]
                return []
    """

    @property
    def name(self) -> str: ...

    def check(self, report: Report) -> list[str]: ...


def drop_blocks(delta: float | None, p_value: float, settings: GateSettings) -> bool:
    """Whether a change against the baseline blocks promotion.

    It does when the rate fell and McNemar says the fall is significant, or when it fell by
    more than `max_drop` whatever the test says; a small, noisy drop never blocks.
    """
    if delta is None:
        return False
    significant = delta < 0 and p_value < settings.alpha
    return significant or delta < -settings.max_drop - _DROP_TOLERANCE


def threshold_reason(group: GroupSummary) -> str | None:
    """Why `group` misses its pass-rate threshold, or None when it meets it or has none."""
    if group.threshold is None:
        return None
    if group.pass_rate is None:
        return (
            f"group '{group.name}' has no passed or failed case to measure against its "
            f"threshold {_number(group.threshold)} ({_count(group.errors, 'error')})"
        )
    if group.pass_rate < group.threshold:
        rate, threshold = _distinct(group.pass_rate, group.threshold)
        return f"group '{group.name}' pass rate {rate} is below its threshold {threshold}"
    return None


def safety_reason(group: GroupSummary) -> str | None:
    """Why safety group `group` has too many unsafe cases, or None."""
    if group.kind != "safety" or group.unsafe is None or group.max_unsafe is None:
        return None
    if group.unsafe > group.max_unsafe:
        return (
            f"safety group '{group.name}' has {_count(group.unsafe, 'unsafe case')}, "
            f"more than max_unsafe {group.max_unsafe}"
        )
    return None


def baseline_reason(group: GroupSummary, settings: GateSettings) -> str | None:
    """Why `group` dropped too far against the baseline, or None."""
    if group.baseline is None or group.baseline.verdict != "fail":
        return None
    return _drop_sentence(f"group '{group.name}'", group.pass_rate, group.baseline, settings)


def group_reasons(group: GroupSummary, settings: GateSettings) -> list[str]:
    """Every reason `group` fails, in rule order; the group's verdict is "fail" when any."""
    found = (
        threshold_reason(group),
        safety_reason(group),
        baseline_reason(group, settings),
    )
    return [reason for reason in found if reason is not None]


class InterruptedRule:
    """An interrupted session never promotes: the cases that did not run are unknown."""

    name = "interrupted"

    def check(self, report: Report) -> list[str]:
        return [INTERRUPTED_REASON] if report.interrupted else []


class GroupThresholdRule:
    """Each group with a threshold reaches it."""

    name = "group_threshold"

    def check(self, report: Report) -> list[str]:
        return _present(threshold_reason(group) for group in report.groups)


class SafetyRule:
    """Each safety group has at most `max_unsafe` unsafe (failed) cases."""

    name = "safety"

    def check(self, report: Report) -> list[str]:
        return _present(safety_reason(group) for group in report.groups)


class FormatValidityRule:
    """The share of strictly valid `llm_json` outputs reaches `--llm-format-threshold`."""

    name = "format_validity"

    def check(self, report: Report) -> list[str]:
        summary = report.format
        if summary.checked == 0 or summary.validity is None:
            return []
        if summary.validity >= report.settings.format_threshold:
            return []
        validity, threshold = _distinct(summary.validity, report.settings.format_threshold)
        failures = [
            (count, category)
            for category, count in summary.categories.items()
            if category != "valid"
        ]
        # sorted() is stable, so equal counts keep the taxonomy order of `categories`.
        failures.sort(key=lambda item: -item[0])
        listed = ", ".join(f"{count} {category}" for count, category in failures)
        return [
            f"strict JSON validity {validity} is below the format threshold {threshold} "
            f"({summary.invalid} of {summary.checked} outputs failed: {listed})"
        ]


class InfrastructureErrorsRule:
    """Infrastructure errors (API failures after retries) stay within `--llm-max-errors`."""

    name = "infrastructure_errors"

    def check(self, report: Report) -> list[str]:
        errors = report.errors
        if errors.infrastructure <= report.settings.max_errors:
            return []
        first = next((entry for entry in errors.first if entry.infrastructure), None)
        example = f" (first: {first.error_type}: {first.message})" if first is not None else ""
        return [
            f"{_count(errors.infrastructure, 'infrastructure error')}, more than "
            f"--llm-max-errors {report.settings.max_errors}{example}"
        ]


class EvalTestErrorsRule:
    """An eval case whose test code raised (not a model failure, not infrastructure) blocks.

    Such an error is excluded from every pass rate, so ignoring it would hide a broken test.
    """

    name = "test_errors"

    def check(self, report: Report) -> list[str]:
        errors = report.errors
        broken = errors.count - errors.infrastructure
        if broken <= 0:
            return []
        first = next((entry for entry in errors.first if not entry.infrastructure), None)
        example = f" (first: {first.error_type}: {first.message})" if first is not None else ""
        return [
            f"{_count(broken, 'eval case')} raised an error in the test itself, which is "
            f"neither a model failure nor an infrastructure error{example}"
        ]


class BaselineRule:
    """No group and not the format validity drops significantly or by more than `max_drop`."""

    name = "baseline"

    def check(self, report: Report) -> list[str]:
        reasons = _present(baseline_reason(group, report.settings) for group in report.groups)
        comparison = report.format.baseline
        if comparison is not None and comparison.verdict == "fail":
            reasons.append(
                _drop_sentence(
                    "strict JSON validity", report.format.validity, comparison, report.settings
                )
            )
        return reasons


BUILTIN_RULES: tuple[GateRule, ...] = (
    InterruptedRule(),
    GroupThresholdRule(),
    SafetyRule(),
    FormatValidityRule(),
    InfrastructureErrorsRule(),
    EvalTestErrorsRule(),
    BaselineRule(),
)


def evaluate_gate(report: Report, extra_rules: Sequence[GateRule] = ()) -> GateResult:
    """Run the built-in rules, then `extra_rules`, against `report`; collect every reason.

    A rule that raises does not crash the report: its failure becomes a reason naming it.
    """
    reasons: list[str] = []
    for rule in (*BUILTIN_RULES, *extra_rules):
        reasons.extend(_run_rule(rule, report))
    return GateResult(passed=not reasons, reasons=reasons)


def _run_rule(rule: GateRule, report: Report) -> list[str]:
    name = _rule_name(rule)
    try:
        found: object = rule.check(report)
    except Exception as error:  # a user's rule may fail in any way; the report must survive
        return [f"gate rule '{name}' failed with {type(error).__name__}: {error}"]
    if found is None:  # a rule that forgot to `return []` on success
        return []
    if isinstance(found, str):
        return [found]
    if not isinstance(found, Iterable):
        return [f"gate rule '{name}' returned {type(found).__name__}, not a list of reasons"]
    return [str(reason) for reason in found]


def _rule_name(rule: GateRule) -> str:
    try:
        name = rule.name
    except Exception:
        name = ""
    return name if isinstance(name, str) and name else type(rule).__name__


def _drop_sentence(
    subject: str, current: float | None, comparison: BaselineDelta, settings: GateSettings
) -> str:
    before, now = _distinct(comparison.rate, current)
    details = [f"McNemar {format_p_value(comparison.p_value)}"]
    if comparison.delta is not None and comparison.delta < -settings.max_drop - _DROP_TOLERANCE:
        details.append(f"more than --llm-max-drop {_number(settings.max_drop)}")
    return f"{subject} dropped from {before} to {now} against the baseline ({'; '.join(details)})"


def _present(reasons: Iterable[str | None]) -> list[str]:
    return [reason for reason in reasons if reason is not None]


def _number(value: float) -> str:
    return f"{value:.2f}"


def _distinct(first: float | None, second: float | None) -> tuple[str, str]:
    """Both rates with two decimals, or more when two decimals would print them equal."""
    if first is None or second is None:
        return (_optional(first, 2), _optional(second, 2))
    for decimals in range(2, 7):
        left, right = f"{first:.{decimals}f}", f"{second:.{decimals}f}"
        if left != right:
            break
    return (left, right)


def _optional(value: float | None, decimals: int) -> str:
    return "n/a" if value is None else f"{value:.{decimals}f}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
