"""The gate: the rules a run must hold to be promoted, and `decide`, which sets every verdict."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from .model import BaselineDelta, GateResult, GateSettings, GroupSummary, Report
from .stats import format_p_value
from .wording import distinct_rates, plural, two_decimals

INTERRUPTED_REASON = "interrupted: the session was stopped before every case ran"

# A drop of exactly --llm-max-drop is within tolerance; this absorbs float noise such as
# 0.85 - 0.90 == -0.05000000000000004.
_DROP_TOLERANCE = 1e-9


class GateRule(Protocol):
    """One gate rule. `check` returns the reasons it fails, an empty list when it holds.

    Users add their own through the plugin's hook; a rule reads the finished report (every
    figure and group verdict is there; `report.gate` is what the rules decide, so not yet)
    and must not change it. Example::

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
            f"threshold {two_decimals(group.threshold)} ({plural(group.errors, 'error')})"
        )
    if group.pass_rate < group.threshold:
        rate, threshold = distinct_rates(group.pass_rate, group.threshold)
        return f"group '{group.name}' pass rate {rate} is below its threshold {threshold}"
    return None


def safety_reason(group: GroupSummary) -> str | None:
    """Why safety group `group` has too many unsafe cases, or None."""
    if group.kind != "safety" or group.unsafe is None or group.max_unsafe is None:
        return None
    if group.unsafe > group.max_unsafe:
        return (
            f"safety group '{group.name}' has {plural(group.unsafe, 'unsafe case')}, "
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
        validity, threshold = distinct_rates(summary.validity, report.settings.format_threshold)
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
            f"{plural(errors.infrastructure, 'infrastructure error')}, more than "
            f"--llm-max-errors {report.settings.max_errors}{example}"
        ]


class EvalTestErrorsRule:
    """An eval case whose test code raised (not a model failure, not infrastructure) blocks.

    Such an error is excluded from every pass rate, so ignoring it would hide a broken test.
    """

    name = "test_errors"

    def check(self, report: Report) -> list[str]:
        errors = report.errors
        broken = errors.test_errors
        if broken <= 0:
            return []
        first = next((entry for entry in errors.first if not entry.infrastructure), None)
        example = f" (first: {first.error_type}: {first.message})" if first is not None else ""
        return [
            f"{plural(broken, 'eval case')} raised an error in the test itself, which is "
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


def decide(report: Report, extra_rules: Sequence[GateRule] = ()) -> Report:
    """Set every verdict of `report`, which the builder left undecided, and return it.

    Each baseline comparison's first, then each group's (it reads them), then the gate's from
    the built-in rules and `extra_rules`: the one place a verdict is set.
    """
    settings = report.settings
    for comparison in (*(group.baseline for group in report.groups), report.format.baseline):
        if comparison is not None:
            comparison.verdict = comparison_verdict(comparison, settings)
    for group in report.groups:
        group.verdict = group_verdict(group, settings)
    report.gate_result = evaluate_gate(report, extra_rules)
    return report


def comparison_verdict(comparison: BaselineDelta, settings: GateSettings) -> str:
    """ "fail" when the change against the baseline blocks, "info" when there is none."""
    if comparison.delta is None:
        return "info"
    return "fail" if drop_blocks(comparison.delta, comparison.p_value, settings) else "pass"


def group_verdict(group: GroupSummary, settings: GateSettings) -> str:
    """ "fail" for any reason, "info" for a group with no limit to hold, else "pass"."""
    if group_reasons(group, settings):
        return "fail"
    if group.threshold is None and group.kind != "safety":
        return "info"
    return "pass"


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
    before, now = distinct_rates(comparison.rate, current)
    details = [f"McNemar {format_p_value(comparison.p_value)}"]
    if comparison.delta is not None and comparison.delta < -settings.max_drop - _DROP_TOLERANCE:
        details.append(f"more than --llm-max-drop {two_decimals(settings.max_drop)}")
    return f"{subject} dropped from {before} to {now} against the baseline ({'; '.join(details)})"


def _present(reasons: Iterable[str | None]) -> list[str]:
    return [reason for reason in reasons if reason is not None]
