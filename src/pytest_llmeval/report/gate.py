"""The gate: the rules a run must hold to be promoted, and `decide`, which sets every verdict."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.model import BaselineDelta, GateResult, GroupSummary, Report, RunInfo
from pytest_llmeval.report.read_only import read_only
from pytest_llmeval.report.stats import format_p_value
from pytest_llmeval.report.wording import distinct_rates, no_model_sentence, plural, two_decimals

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

    Only when BOTH halves of the rule hold: the fall is significant (the one-sided paired
    test's p-value is below `alpha`) and larger than `max_drop`. A small but significant
    drop on a big suite, and a large but noisy one on a small suite (2 of 20 cases worse,
    p = 0.25), are shown and do not block.
    """
    return held_back_by(delta, p_value, settings) == []


def held_back_by(delta: float | None, p_value: float, settings: GateSettings) -> list[str] | None:
    """For a drop, the halves of the baseline rule that do not hold: "alpha" (the drop is not
    significant) and "max_drop" (it is within `--llm-max-drop`); [] when both hold and the
    drop blocks. None when nothing dropped."""
    if delta is None or delta >= 0:
        return None
    held: list[str] = []
    if not p_value < settings.alpha:
        held.append("alpha")
    if not _over_max_drop(delta, settings):
        held.append("max_drop")
    return held


def is_gated(group: GroupSummary) -> bool:
    """Whether a group has a limit to hold: a threshold, or `max_unsafe` (a safety group).

    The others are info groups: their figures and baseline deltas are shown, never gated.
    """
    return group.threshold is not None or group.kind == "safety"


def no_evidence_reason(group: GroupSummary) -> str | None:
    """Why `group` says nothing (none of its cases passed or failed), or None when it does.

    No evidence is never a pass: a safety group whose every case was an infrastructure error
    has shown nothing about safety, however many errors `--llm-max-errors` tolerates.
    """
    if group.passed + group.failed > 0:
        return None
    if group.cases == 0:  # every case of it skipped or xfailed
        counted = _listed([(group.skipped, "skipped"), (group.xfailed, "xfailed")])
        return f"group '{group.name}' has no evidence: none of its cases ran ({counted})"
    return (
        f"group '{group.name}' has no evidence: none of its {plural(group.cases, 'case')} "
        f"passed or failed ({plural(group.errors, 'error')})"
    )


def threshold_reason(group: GroupSummary) -> str | None:
    """Why `group` misses its pass-rate threshold, or None when it meets it or has none."""
    if group.threshold is None or group.pass_rate is None:
        return None  # a group with nothing to measure is the no-evidence rule's
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
        no_evidence_reason(group),
        threshold_reason(group),
        safety_reason(group),
        baseline_reason(group, settings),
    )
    return [reason for reason in found if reason is not None]


class InterruptedRule:
    """An interrupted session never promotes: the cases that did not run are unknown.

    When the collector counted the cases that did not run, `IncompleteRunRule` says so,
    with the count and the cause, in place of this reason.
    """

    name = "interrupted"

    def check(self, report: Report) -> list[str]:
        return [INTERRUPTED_REASON] if report.interrupted and not report.run.not_run else []


class IncompleteRunRule:
    """Every selected eval case ran: an early stop (-x, --maxfail, pytest.exit, a crashed
    xdist worker) leaves the cases after it unknown. Deselected cases (-k, -m) do not count.
    A merge of shards (`llmeval merge`) is incomplete when a shard is missing, given twice or
    of another run (`shard_reasons`)."""

    name = "incomplete_run"

    def check(self, report: Report) -> list[str]:
        run = report.run
        if not run.not_run:
            return shard_reasons(run)
        if run.eval_cases is not None:
            counted = f"{run.not_run} of {plural(run.eval_cases, 'eval case')}"
        else:
            counted = plural(run.not_run, "eval case")
        why = run.stop_reason or "the session ended before they ran"
        return [f"incomplete run: {counted} did not run ({why})", *shard_reasons(run)]


def shard_reasons(run: RunInfo) -> list[str]:
    """What the merge found wrong with the shards it was given, one reason each."""
    problems = (run.merged or {}).get("problems") or ()
    return [f"incomplete run: {problem}" for problem in problems]


class NoModelRule:
    """In CI or a replay-only run, no eval case is skipped for want of a model under test."""

    name = "no_model"

    def check(self, report: Report) -> list[str]:
        run = report.run
        if run.skipped_no_model and run.model_required:
            return [no_model_sentence(run.skipped_no_model)]
        return []


class NoEvidenceRule:
    """Every group has evidence: at least one of its cases passed or failed; and a run that
    collected eval cases ran at least one (not every one skipped, xfailed, deselected or
    dropped by a hook), which says why in one reason in place of each group's."""

    name = "no_evidence"

    def check(self, report: Report) -> list[str]:
        reason = run_no_evidence_reason(report)
        if reason is not None:
            return [reason]
        return _present(no_evidence_reason(group) for group in report.groups)


def run_no_evidence_reason(report: Report) -> str | None:
    """Why a run that collected eval cases says nothing (none of them ran), or None.

    Cases skipped for want of a model are the no-model rule's, so such a run is left to it.
    """
    run, totals = report.run, report.totals
    if not run.collected or totals.cases or run.skipped_no_model:
        return None
    counted = _listed(
        [
            (totals.skipped, "skipped"),
            (totals.xfailed, "xfailed"),
            (run.deselected, "deselected"),
            (len(run.removed_cases), "removed by a hook"),
            (run.not_run, "did not run"),
        ]
    )
    counted = counted or "none selected"
    return f"no evidence: none of {plural(run.collected, 'eval case')} ran ({counted})"


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


class StoreProblemsRule:
    """A store that could not record answers is one infrastructure error per problem: the
    answers reached the tests, but the next replay-only run will miss them."""

    name = "store_problems"

    def check(self, report: Report) -> list[str]:
        problems = report.store_problems
        if (
            not problems
            or report.errors.infrastructure + len(problems) <= report.settings.max_errors
        ):
            return []
        return [
            f"the store could not record answers ({plural(len(problems), 'infrastructure error')},"
            f" --llm-max-errors {report.settings.max_errors}): {problems[0]}"
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
    """No gated group, and not the format validity, drops both significantly (at `alpha`)
    and by more than `max_drop`."""

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


class ContaminationRule:
    """No more eval cases found in the training data (`--llm-train-data`) than
    `--llm-max-contaminated` (0): a case the model was trained on measures memory, not skill."""

    name = "contamination"

    def check(self, report: Report) -> list[str]:
        data = report.data
        if data is None or len(data.contaminated) <= data.max_contaminated:
            return []
        first = data.contaminated[0]
        return [
            f"{plural(len(data.contaminated), 'eval case')} also in the training data "
            f"{data.train_data}, more than --llm-max-contaminated {data.max_contaminated} "
            f"(first: {first}); remove them from one of the files"
        ]


# The files a `store_integrity` reason names one by one; the JSON report lists them all.
INTEGRITY_FILES_NAMED = 20


class StoreIntegrityRule:
    """Every recording replayed is one the store trusts: a regular file of its own, within the
    size limit, holding the request it is named for, and (with a public key configured)
    signed by its private key and not changed since. One that is not is never replayed,
    and blocks, named."""

    name = "store_integrity"

    def check(self, report: Report) -> list[str]:
        bad = report.store_integrity
        reasons = [
            f"store integrity: {entry}; it was not replayed"
            for entry in bad[:INTEGRITY_FILES_NAMED]
        ]
        if len(bad) > INTEGRITY_FILES_NAMED:
            reasons.append(
                f"store integrity: {len(bad) - INTEGRITY_FILES_NAMED} more recordings cannot be"
                " trusted (`llmeval store verify` lists every one)"
            )
        return reasons


class SkippedCasesRule:
    """Under CI, no eval case the baseline ran is skipped, xfailed or gone, unless the
    workflow's command line says `--llm-allow-skips`."""

    name = "skipped_cases"

    def check(self, report: Report) -> list[str]:
        changes = report.changes
        if changes is None or not changes.dropped:
            return []
        if not changes.policy.enforced or changes.policy.allow_skips:
            return []
        first = (changes.skipped + changes.xfailed + changes.removed)[0]
        return [
            f"{plural(changes.dropped, 'eval case')} the baseline ran were skipped, xfailed or "
            f"removed ({len(changes.skipped)} skipped, {len(changes.xfailed)} xfailed, "
            f"{len(changes.removed)} gone; first: {first}): under CI that blocks unless "
            "--llm-allow-skips is given on the command line"
        ]


class RelaxedGateRule:
    """Under CI, no gate setting is relaxed against the baseline (a threshold lowered, a
    gated group no longer gated, renamed or gone, the store's key removed), unless the
    workflow's command line says `--llm-allow-relaxed`."""

    name = "relaxed_gate"

    def check(self, report: Report) -> list[str]:
        changes = report.changes
        if changes is None or not changes.relaxed:
            return []
        if not changes.policy.enforced or changes.policy.allow_relaxed:
            return []
        listed = "; ".join(change.text for change in changes.relaxed)
        return [
            f"the gate was relaxed against the baseline ({listed}): under CI that blocks "
            "unless --llm-allow-relaxed is given on the command line"
        ]


BUILTIN_RULES: tuple[GateRule, ...] = (
    InterruptedRule(),
    IncompleteRunRule(),
    NoModelRule(),
    NoEvidenceRule(),
    GroupThresholdRule(),
    SafetyRule(),
    FormatValidityRule(),
    InfrastructureErrorsRule(),
    StoreProblemsRule(),
    EvalTestErrorsRule(),
    BaselineRule(),
    ContaminationRule(),
    StoreIntegrityRule(),
    SkippedCasesRule(),
    RelaxedGateRule(),
)


def evaluate_gate(report: Report, extra_rules: Sequence[GateRule] = ()) -> GateResult:
    """Run the built-in rules, then `extra_rules`, against `report`; collect every reason.

    A rule that raises does not crash the report: its failure becomes a reason naming it.
    The extra rules (a conftest's, a plugin's) read the report through a read-only view:
    they can add reasons, never change a figure the others read.
    """
    reasons: list[str] = []
    for rule in BUILTIN_RULES:
        reasons.extend(_run_rule(rule, report))
    if extra_rules:
        view = read_only(report)
        for rule in extra_rules:
            reasons.extend(_run_rule(rule, view))
    return GateResult(passed=not reasons, reasons=reasons)


def decide(report: Report, extra_rules: Sequence[GateRule] = ()) -> Report:
    """Set every verdict of `report`, which the builder left undecided, and return it.

    Each baseline comparison's first, then each group's (it reads them), then the gate's from
    the built-in rules and `extra_rules`: the one place a verdict is set.
    """
    settings = report.settings
    for group in report.groups:
        if group.baseline is not None:
            judge_comparison(group.baseline, settings, gated=is_gated(group))
    if report.format.baseline is not None:
        judge_comparison(report.format.baseline, settings, gated=True)
    for group in report.groups:
        group.verdict = group_verdict(group, settings)
    report.gate_result = evaluate_gate(report, extra_rules)
    return report


def judge_comparison(comparison: BaselineDelta, settings: GateSettings, *, gated: bool) -> None:
    """Sets a baseline comparison's verdict and the halves of the rule behind it.

    "fail" when the drop blocks, "pass" when it does not, "info" when there is nothing to
    compare or the group is an info group (its delta is shown, never gated).
    """
    delta, p_value = comparison.delta, comparison.p_value
    comparison.significant = delta is not None and delta < 0 and p_value < settings.alpha
    comparison.over_max_drop = delta is not None and _over_max_drop(delta, settings)
    comparison.held_back_by = held_back_by(delta, p_value, settings)
    if delta is None or not gated:
        comparison.verdict = "info"
    else:
        comparison.verdict = "fail" if comparison.held_back_by == [] else "pass"


def group_verdict(group: GroupSummary, settings: GateSettings) -> str:
    """ "no_evidence" when none of its cases passed or failed, "fail" for any other reason,
    "info" for a group with no limit to hold, else "pass"."""
    if no_evidence_reason(group) is not None:
        return "no_evidence"
    if group_reasons(group, settings):
        return "fail"
    if not is_gated(group):
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
    test = "sign test" if comparison.test == "sign" else "McNemar"
    details = [f"{test} {format_p_value(comparison.p_value)} < alpha {settings.alpha:g}"]
    if comparison.delta is not None:
        details.append(
            f"a drop of {two_decimals(-comparison.delta)}, more than --llm-max-drop "
            f"{two_decimals(settings.max_drop)}"
        )
    return f"{subject} dropped from {before} to {now} against the baseline ({'; '.join(details)})"


def _over_max_drop(delta: float, settings: GateSettings) -> bool:
    return delta < -settings.max_drop - _DROP_TOLERANCE


def _listed(counts: Iterable[tuple[int, str]]) -> str:
    """`3 skipped, 1 xfailed`: the counts that are not zero."""
    return ", ".join(f"{count} {what}" for count, what in counts if count)


def _present(reasons: Iterable[str | None]) -> list[str]:
    return [reason for reason in reasons if reason is not None]
