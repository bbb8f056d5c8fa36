"""Render one report object as terminal lines, Markdown or JSON, without computing a figure."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from tabulate import tabulate

from pytest_llmeval.report.escape import markdown_code as _md_code
from pytest_llmeval.report.escape import markdown_link as _md_link
from pytest_llmeval.report.escape import markdown_text as _md
from pytest_llmeval.report.escape import plain as _plain
from pytest_llmeval.report.flipped import FLIPPED_SHOWN, flipped_lines
from pytest_llmeval.report.latency import latency_lines
from pytest_llmeval.report.layout import fit_lines, fits, table
from pytest_llmeval.report.model import BaselineDelta, CaseEntry, GroupSummary, Report
from pytest_llmeval.report.not_counted import (
    condition_lines,
    headline_parts,
    live_text,
    not_counted_lines,
)
from pytest_llmeval.report.repeated import distinct_error_lines, tally_lines
from pytest_llmeval.report.stats import format_p_value
from pytest_llmeval.report.usage_lines import cost_lines, usage_line
from pytest_llmeval.report.wording import distinct_rates, no_model_sentence, plural, rate_text

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

MARKDOWN_ERRORS_SHOWN = 10
TERMINAL_ERRORS_SHOWN = 5
TERMINAL_FAILURES_SHOWN = 5
# Below this many columns the group table leaves out its baseline and kind columns.
FULL_TABLE_WIDTH = 100

# How untrusted text is made safe for one output.
_Escape = Callable[[str | None], str]


def _no_colour(text: str, colour: str) -> str:
    return text


@dataclass(frozen=True)
class TerminalView:
    """How the terminal shows a report: its width in columns, pytest's verbosity (-q is -1,
    -v is 1), and `colour(text, "green" | "red")`, which adds pytest's markup when it colours."""

    width: int = 80
    verbosity: int = 0
    colour: Callable[[str, str], str] = _no_colour


def terminal_lines(report: Report, view: TerminalView = TerminalView()) -> list[str]:
    """The gate summary for the terminal, no line wider than `view.width`: tables, failed
    cases, usage, then the verdict and its reasons; with -q the groups and the verdict, with
    -qq the verdict line alone."""
    if view.verbosity <= -2:
        return [_verdict_line(report, view)]
    if not report.totals.cases:  # every eval case skipped, or none ran: what did not count
        lines = [_headline(report, _plain), *_warning_lines(report, _plain)]
        lines += not_counted_lines(report, _plain, view.verbosity)
        lines += _run_condition_lines(report, _plain)
        return [*fit_lines(lines, view.width), "", *_verdict_lines(report, view)]
    lines = [_headline(report, _plain), *_warning_lines(report, _plain)]
    lines += _group_table_lines(report, view.width)
    lines += not_counted_lines(report, _plain, view.verbosity)
    if view.verbosity < 0:
        return [*fit_lines(lines, view.width), "", *_verdict_lines(report, view)]
    lines += _repeat_lines(report, _plain, "simple")
    lines += _format_section(report, _plain, "simple")
    lines += _safety_lines(report, _plain)
    lines += _judge_lines(report, _plain, "simple")
    lines += _judging_lines(report, _plain)
    lines += _score_lines(report, _plain, "simple")
    lines += _data_lines(report, _plain)
    lines += _cluster_lines(report, _plain, "simple")
    lines += _failed_case_lines(report, view.verbosity)
    lines += _error_lines(report, view.verbosity)
    lines += tally_lines(report)
    lines += _run_condition_lines(report, _plain)
    baseline = _baseline_lines(report, _plain)
    if baseline:
        lines += ["", *baseline]
    shown = None if view.verbosity > 0 else FLIPPED_SHOWN
    lines += flipped_lines(report, shown=shown, more="(-v lists them all)")
    lines += _baseline_rule_lines(report, _plain, "simple")
    lines += _no_model_warning(report)
    lines += ["", usage_line(report), *latency_lines(report)]
    lines += cost_lines(report, _plain, view.verbosity)
    return [*fit_lines(lines, view.width), "", *_verdict_lines(report, view)]


def _verdict_line(report: Report, view: TerminalView) -> str:
    colour = "green" if report.gate.passed else "red"
    return view.colour(f"llmeval gate: {report.gate.verdict.upper()}", colour)


def _verdict_lines(report: Report, view: TerminalView = TerminalView()) -> list[str]:
    """The verdict, its reasons, and what changed against the baseline under them."""
    reasons = [f"  - {_plain(reason)}" for reason in report.gate.reasons]
    changes = _changes_lines(report, _plain, every=view.verbosity > 0)
    changes = ["", changes[0], *[f"  - {line}" for line in changes[1:]]] if changes else []
    return [_verdict_line(report, view), *fit_lines(reasons + changes, view.width)]


def _changes_lines(report: Report, text: _Escape, *, every: bool = False) -> list[str]:
    """A title line, then one line per change against the baseline; [] when none."""
    changes = report.changes
    if changes is None or changes.empty:
        return []
    source = f" ({text(changes.baseline)})" if changes.baseline else ""
    return [f"Changes against the baseline{source}:", *map(text, changes.lines(every=every))]


def _group_table_lines(report: Report, width: int) -> list[str]:
    """The group table: every column from FULL_TABLE_WIDTH columns on where it fits, else
    the narrow one with each group's baseline comparison listed under it."""
    if not report.groups:
        return []
    if width >= FULL_TABLE_WIDTH:
        full = _group_table(report, _plain, "simple")
        if fits(full, width):
            return ["", *full]
    rows = [
        [
            _plain(group.name),
            str(group.cases),
            str(group.failed),
            str(group.errors),
            _rate_with_interval(group),
            _limit(group),
            _verdict_cell(group.verdict),
        ]
        for group in report.groups
    ]
    headers = ["group", "cases", "failed", "errors", "pass rate [95% CI]", "threshold", "verdict"]
    lines = ["", *_table(rows, headers, "simple")]
    compared = [group for group in report.groups if group.baseline is not None]
    if compared:
        lines += ["", "Against the baseline:"]
        lines += [
            f"  {_plain(group.name)}: {_baseline_change(group.baseline, group.pass_rate)}"
            f"{_paired_changes(group.baseline)}"
            for group in compared
            if group.baseline is not None
        ]
    return lines


def _failed_case_lines(report: Report, verbosity: int) -> list[str]:
    """Failed cases with group, category and reason: the first few, or with -v every one."""
    failures = report.failures
    if not failures.count:
        return []
    if verbosity > 0:
        shown = [
            (case["nodeid"], case["group"], case["category"], case.get("message"))
            for case in _every_case(report, "failed")
        ]
    else:
        shown = [
            (entry.nodeid, entry.group, entry.category, entry.message)
            for entry in failures.first[:TERMINAL_FAILURES_SHOWN]
        ]
    lines = ["", f"{plural(failures.count, 'failed case')}:"]
    lines += [_case_line(*case) for case in shown]
    if len(shown) < failures.count:
        lines.append(f"  ... and {failures.count - len(shown)} more (-v lists them all)")
    return lines


def _every_case(report: Report, outcome: str) -> list[CaseEntry]:
    """The report's cases that ended in `outcome`, by node id as the first-few lists are."""
    return sorted(
        (case for case in report.cases if case["outcome"] == outcome),
        key=lambda case: case["nodeid"],
    )


def _why(category: str | None) -> str:
    """A failed case's category as a reason: "valid" says its format held, not why it failed."""
    return "" if category in (None, "valid") else str(category)


def _case_line(nodeid: str, group: str, category: str | None, message: str | None) -> str:
    where = _plain(group)
    if _why(category):
        where += f", {_plain(category)}"
    reason = f": {_plain(message)}" if message else ""
    return f"  {_plain(nodeid)} ({where}){reason}"


def _error_lines(report: Report, verbosity: int) -> list[str]:
    """Errored cases: the first few, or with -v every one."""
    errors = report.errors
    if not errors.count:
        return []
    if verbosity > 0:
        shown = [
            (case["nodeid"], case.get("error_type"), case.get("message"))
            for case in _every_case(report, "error")
        ]
    elif errors.distinct:  # each error once, with its count and first case
        head = _errors_headline(report).replace("first ones:", "each once:")
        return ["", head, *distinct_error_lines(errors.distinct, _plain, TERMINAL_ERRORS_SHOWN)]
    else:
        shown = [
            (entry.nodeid, entry.error_type, entry.message)
            for entry in errors.first[:TERMINAL_ERRORS_SHOWN]
        ]
    lines = ["", _errors_headline(report)]
    lines += [
        f"  {_plain(nodeid)}: {_plain(_error_text(error_type, message))}"
        for nodeid, error_type, message in shown
    ]
    if len(shown) < errors.count:
        lines.append(f"  ... and {errors.count - len(shown)} more (-v lists them all)")
    return lines


def _repeat_lines(report: Report, text: _Escape, style: str) -> list[str]:
    """With --llm-repeat: how the rates were made, and each flaky case with its fraction."""
    repeat = report.run.repeat
    if repeat < 2:
        return []
    lines = [
        "",
        f"Each eval case ran {repeat} times: a group's pass rate is the mean of its cases' "
        "pass fractions, its 95% CI the Wilson interval over cases (runs of a case are not "
        "independent).",
    ]
    rows = [
        [text(group.name), text(nodeid), f"{group.case_pass_fractions.get(nodeid, 0.0):.2f}"]
        for group in report.groups
        for nodeid in group.flaky
    ]
    if not rows:
        return [*lines, "", "No flaky case: every case passed all its runs or failed all."]
    headers = ["group", "flaky case (passed some runs, failed others)", "pass fraction"]
    return [*lines, "", *_table(rows, headers, style)]


def markdown(report: Report, *, html: tuple[str, str | None] | None = None) -> str:
    """The gate report as GitHub-flavoured Markdown, e.g. for `$GITHUB_STEP_SUMMARY`.

    `html` is the HTML report's (path, address of the CI run's artifacts or None), linked
    under the headline."""
    mark = "✅" if report.gate.passed else "❌"
    out = [f"## {mark} llmeval gate: {report.gate.verdict.upper()}", "", _headline(report, _md)]
    if html is not None:
        path, artifacts = html
        where = f": [in this run's artifacts]({_md_link(artifacts)})" if artifacts else ""
        out += ["", f"HTML report {_md_code(path)}{where}"]
    out += ["", *_warning_lines(report, _md)] if report.run.warnings else []
    if report.gate.reasons:
        out += ["", "**Reasons**", ""]
        out += [f"- {_md(reason)}" for reason in report.gate.reasons]
    changes = _changes_lines(report, _md)
    if changes:
        out += ["", f"**{changes[0]}**", "", *[f"- {line}" for line in changes[1:]]]
    if report.groups:
        out += ["", "### Groups", ""]
        out += _group_table(report, _md, "github")
    not_counted = not_counted_lines(report, _md, 1)
    if not_counted:
        out += ["", "### Not counted (skipped, xfailed)", ""]
        out += [f"- {line.strip()}" for line in not_counted]
    repeats = _repeat_lines(report, _md, "github")
    if repeats:
        out += ["", "### Repeated runs", *repeats]
    format_lines = _format_section(report, _md, "github")
    if format_lines:
        out += ["", "### Strict JSON format", *format_lines]
    safety = _safety_lines(report, _md)
    if safety:
        out += ["", "### Safety", *safety]
    judges = _judge_lines(report, _md, "github")
    judging = _judging_lines(report, _md)
    if judges or judging:
        out += ["", "### Judge scores", *judges]
        for line in judging[1:]:  # one paragraph each: Markdown would join adjacent lines
            out += ["", line]
    scores = _score_lines(report, _md, "github")
    if scores:
        out += ["", "### Scores", *scores]
    for title, section in (
        ("Training data", _data_lines(report, _md)),
        ("Failure clusters", _cluster_lines(report, _md, "github")),
    ):
        out += ["", f"### {title}", *section] if section else []
    if report.failures.count:
        out += ["", "### Failed cases", "", _failures_headline(report), ""]
        rows = [
            [_md(entry.nodeid), _md(entry.group), _md(_why(entry.category)), _md(entry.message)]
            for entry in report.failures.first
        ]
        out += _table(rows, ["case", "group", "category", "message"], "github")
    if report.errors.count:
        out += ["", "### Errors", "", _errors_headline(report), ""]
        rows = [
            [
                _md(entry.nodeid),
                "infrastructure" if entry.infrastructure else "test",
                _md(_error_text(entry.error_type, entry.message)),
            ]
            for entry in report.errors.first[:MARKDOWN_ERRORS_SHOWN]
        ]
        out += _table(rows, ["case", "kind", "error"], "github")
        out += [line for tally in tally_lines(report)[1:] for line in ("", _md(tally))]
    conditions = _run_condition_lines(report, _md)
    if conditions:
        out += ["", "### Endpoint and store"]
        for line in conditions[1:]:  # one paragraph each: Markdown would join adjacent lines
            out += ["", line]
    baseline = _baseline_lines(report, _md)
    if baseline:
        out += ["", "### Baseline"]
        for line in baseline:  # one paragraph each: Markdown would join adjacent lines
            out += ["", line]
        more = "(the JSON report lists them all)"
        out += flipped_lines(report, shown=FLIPPED_SHOWN, more=more, markdown=True)
        out += _baseline_rule_lines(report, _md, "github")
    out += ["", "### Usage", "", usage_line(report)]
    out += [line for latency in latency_lines(report) for line in ("", latency)]
    out += [line for cost in cost_lines(report, _md, 0) for line in ("", cost)]
    return "\n".join(out) + "\n"


# Cases per encoder call of `json_chunks`: big enough that the C encoder does the work (a
# call per case is twice as slow), small enough that a 100,000-case report is never one string.
CASES_PER_CHUNK = 1000


def json_text(report: Report) -> str:
    """The JSON report as one string (`json_chunks` joined)."""
    return "".join(json_chunks(report))


def json_chunks(report: Report, cases_per_chunk: int = CASES_PER_CHUNK) -> Iterator[str]:
    """The JSON report in pieces, to be written one after another: `report.to_dict()`
    indented, one case per line, valid UTF-8 always. Each piece ends between two values, so a
    piece can be scrubbed on its own, and the whole text is never held at once."""
    data = report.to_dict()
    cases = data.pop("cases")
    parts = []
    for key, value in data.items():
        # json.dumps never emits a raw newline inside a string, so re-indenting is safe.
        body = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {body}")
    del data
    yield _utf8_safe("{\n" + ",\n".join(parts) + ",\n")
    if not cases:
        yield '  "cases": []\n}\n'
        return
    yield '  "cases": [\n'
    for start in range(0, len(cases), cases_per_chunk):
        # One C-encoder call for a chunk of cases, then a line break before each case. Each
        # case object begins with its "nodeid" key and a case holds no list of objects, so
        # '}, {"nodeid": ' only ever occurs between two cases (a quote inside a JSON string
        # is always escaped).
        listed = json.dumps(cases[start : start + cases_per_chunk], ensure_ascii=False)[1:-1]
        listed = listed.replace('}, {"nodeid": ', '},\n    {"nodeid": ')
        last = start + cases_per_chunk >= len(cases)
        yield _utf8_safe(f"    {listed}{'' if last else ','}\n")
    yield "  ]\n}\n"


def _utf8_safe(text: str) -> str:
    """Lone surrogates (from broken model output) cannot be UTF-8; as JSON escapes they still
    read back as the same string. Searched for, not encoded: no copy of a big piece."""
    if _LONE_SURROGATE.search(text) is not None:
        text = _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return text


_GROUP_HEADERS = [
    "group",
    "kind",
    "cases",
    "passed",
    "failed",
    "errors",
    "pass rate",
    "95% CI",
    "threshold",
    "baseline → now",
    "worse/better",
    "verdict",
]


# The group table's baseline columns, left out when no group was compared with a baseline.
_BASELINE_COLUMNS = ("baseline → now", "worse/better")


def _group_table(report: Report, text: _Escape, style: str) -> list[str]:
    """Every column of the group table; the baseline's only when a group has a baseline."""
    rows, headers = _group_rows(report, text), _GROUP_HEADERS
    if not any(group.baseline is not None for group in report.groups):
        keep = [index for index, name in enumerate(headers) if name not in _BASELINE_COLUMNS]
        rows = [[row[index] for index in keep] for row in rows]
        headers = [headers[index] for index in keep]
    return _table(rows, headers, style)


def _group_rows(report: Report, text: _Escape) -> list[list[str]]:
    return [
        [
            text(group.name),
            text(group.kind),
            str(group.cases),
            str(group.passed),
            str(group.failed),
            str(group.errors),
            rate_text(group.pass_rate),
            _interval(group),
            _limit(group),
            _baseline_change(group.baseline, group.pass_rate),
            _worse_better(group.baseline),
            _verdict_cell(group.verdict),
        ]
        for group in report.groups
    ]


def _verdict_cell(verdict: str) -> str:
    """A group's verdict as the table shows it: the blocking ones in capitals."""
    return {"fail": "FAIL", "no_evidence": "NO EVIDENCE"}.get(verdict, verdict)


def _headline(report: Report, text: _Escape) -> str:
    run, totals = report.run, report.totals
    models = f"model {text(run.model or '(none)')}"
    if run.judge_model:
        models += f", judge {text(run.judge_model)}"
    cases = plural(totals.cases, "case")
    if run.repeat > 1:
        cases += f" × {run.repeat} runs"
    counts = (
        f"{cases}: {totals.passed} passed, {totals.failed} failed, {plural(totals.errors, 'error')}"
    )
    counts += _completeness_text(report)
    tail = f"started {text(run.started)}, {run.duration_s:.1f} s"
    if report.interrupted:
        tail += ", INTERRUPTED"
    return f"llmeval: {models}; {counts}; {tail}{live_text(report, text)}"


def _completeness_text(report: Report) -> str:
    """`, 6 eval cases deselected, 14 did not run` for the headline; '' for a full run;
    `, subset run (...)` with the reasons when the run was not complete."""
    run = report.run
    parts = []
    if run.subset:
        parts.append(f"subset run ({'; '.join(run.subset)})")
    elif run.deselected:
        parts.append(f"{plural(run.deselected, 'eval case')} deselected")
    if run.not_run and not run.subset:
        parts.append(f"{run.not_run} did not run")
    if run.skipped_no_model:
        parts.append(f"{run.skipped_no_model} skipped (no model)")
    parts += headline_parts(report)
    return "".join(f", {part}" for part in parts)


def _no_model_warning(report: Report) -> list[str]:
    """The no-model line as a warning, where it does not block (not CI, not replay-only)."""
    run = report.run
    if not run.skipped_no_model or run.model_required:
        return []
    return ["", f"warning: {no_model_sentence(run.skipped_no_model)}"]


def _format_section(report: Report, text: _Escape, style: str) -> list[str]:
    summary = report.format
    if not summary.checked:
        return []
    line = (
        f"Strict JSON: {summary.valid} of {summary.checked} outputs valid "
        f"({rate_text(summary.validity)}, threshold {rate_text(summary.threshold)})"
    )
    if summary.baseline is not None:
        line += (
            f"; against the baseline {_baseline_change(summary.baseline, summary.validity)}"
            f"{_paired_changes(summary.baseline)}"
        )
    rows = [
        [text(category), str(count), f"{summary.shares[category]:.1%}"]
        for category, count in summary.categories.items()
    ]
    # Blank lines around the table: in Markdown a line right after a table is one more row.
    lines = ["", line, "", *_table(rows, ["category", "count", "share"], style)]
    if summary.finish_reasons:
        reasons = ", ".join(
            f"{text(reason)} {count}" for reason, count in summary.finish_reasons.items()
        )
        lines += ["", f"finish reasons: {reasons}"]
    return lines


def _safety_lines(report: Report, text: _Escape) -> list[str]:
    safety = report.safety
    if not safety.flagged:
        return []
    found = ", ".join(f"{text(name)} {count}" for name, count in safety.categories.items())
    line = f"Moderation flagged {plural(safety.flagged, 'case')}"
    return ["", f"{line}: {found}" if found else line]


def _judge_lines(report: Report, text: _Escape, style: str) -> list[str]:
    rows = [
        [
            text(group.name),
            str(group.judged),
            _score(group.mean_score),
            _score(group.lowest_score),
            _score(group.min_score),
        ]
        for group in report.groups
        if group.judged
    ]
    if not rows:
        return []
    headers = ["judge group", "judged", "mean score", "lowest", "min_score"]
    return ["", *_table(rows, headers, style)]


def _judging_lines(report: Report, text: _Escape) -> list[str]:
    """How far each judge group's judge can be trusted: calibration against human labels,
    position bias, its score distribution; then the judge's own format failures."""
    lines: list[str] = []
    for group in report.groups:
        name = text(group.name)
        if group.calibration is not None:
            calibration = group.calibration
            kappa = "n/a" if calibration.kappa is None else f"{calibration.kappa:.2f}"
            lines.append(
                f"{name}: judge agrees with humans on {calibration.agreed} of"
                f" {plural(calibration.labelled, 'labelled case')}, kappa {kappa}"
            )
        if group.comparisons:
            lines.append(
                f"{name}: position bias in {group.position_bias or 0} of"
                f" {plural(group.comparisons, 'comparison')} (the two orders disagreed: a tie)"
            )
        if group.score_distribution:
            counts = ", ".join(
                f"{text(score)}: {count}" for score, count in group.score_distribution.items()
            )
            lines.append(f"{name}: judge scores {counts}")
    judge_format = report.judge_format
    invalid = judge_format.checked - judge_format.valid
    if invalid:
        found = ", ".join(
            f"{text(category)} {count}" for category, count in judge_format.categories.items()
        )
        lines.append(
            f"Judge answers: {invalid} of {judge_format.checked} failed their JSON check"
            f" ({found}); a verdict failing twice is an infrastructure error"
        )
    return ["", *lines] if lines else []


def _score_lines(report: Report, text: _Escape, style: str) -> list[str]:
    rows = [
        [
            text(group.name),
            text(name),
            str(score.count),
            _score(score.mean),
            _score(score.min),
            _score(score.max),
        ]
        for group in report.groups
        for name, score in group.scores.items()
    ]
    if not rows:
        return []
    return ["", *_table(rows, ["group", "score", "count", "mean", "min", "max"], style)]


def _baseline_lines(report: Report, text: _Escape) -> list[str]:
    baseline = report.baseline
    if baseline is None:
        return []
    against = text(baseline.source or "the baseline report")
    if baseline.model:
        against += f" (model {text(baseline.model)}"
        against += f", started {text(baseline.started)})" if baseline.started else ")"
    lines = [f"Baseline: {against}; {baseline.paired_cases} cases in both runs"]
    if baseline.only_in_baseline:
        names = ", ".join(text(name) for name in baseline.only_in_baseline)
        lines.append(f"groups only in the baseline: {names}")
    if baseline.only_in_current:
        names = ", ".join(text(name) for name in baseline.only_in_current)
        lines.append(f"groups only in this run: {names}")
    return lines


def _warning_lines(report: Report, text: _Escape) -> list[str]:
    return [f"warning: {text(warning)}" for warning in report.run.warnings]


def _data_lines(report: Report, text: _Escape) -> list[str]:
    data = report.data
    if data is None:
        return []
    found = plural(len(data.contaminated), "eval case")
    lines = ["", f"Training data {text(data.train_data)}: {found} also in it"]
    lines += [f"  contaminated: {text(nodeid)}" for nodeid in data.contaminated[:_LISTED]]
    if len(data.contaminated) > _LISTED:
        lines.append(f"  ... and {len(data.contaminated) - _LISTED} more")
    for drift in data.prompt_drift:
        lines.append(f"  system prompt drift: {text(_first(drift['eval']) or '(none)')}")
        lines += [f"    {text(line)}" for line in drift["diff"].splitlines()]
    return lines


def _cluster_lines(report: Report, text: _Escape, style: str) -> list[str]:
    if not report.clusters:
        return []
    rows = [
        [
            text(", ".join(f"{key}={value}" for key, value in cluster["by"].items())),
            str(cluster["cases"]),
            text(cluster["nodeids"][0]) if cluster["nodeids"] else "",
        ]
        for cluster in report.clusters
    ]
    title = ["Failure clusters (failed cases that share a trait):"] if style == "simple" else []
    return ["", *title, *_table(rows, ["failures sharing", "cases", "first case"], style)]


def _first(prompt: str) -> str:
    """A system prompt's first line, short, to name it."""
    line = prompt.strip().splitlines()[0] if prompt.strip() else ""
    return line if len(line) <= 80 else line[:79] + "…"


_LISTED = 10


def _baseline_rule_lines(report: Report, text: _Escape, style: str) -> list[str]:
    """The baseline rule per comparison, as a table after a blank line; [] without one."""
    rows = _baseline_rule_rows(report, text)
    return ["", *_table(rows, _BASELINE_RULE_HEADERS, style)] if rows else []


def _baseline_rule_rows(report: Report, text: _Escape) -> list[list[str]]:
    """One row per comparison with the baseline: both numbers of the rule and what held."""
    compared: list[tuple[str, float | None, BaselineDelta]] = [
        (text(group.name), group.pass_rate, group.baseline)
        for group in report.groups
        if group.baseline is not None
    ]
    if report.format.baseline is not None:
        compared.append(("strict JSON validity", report.format.validity, report.format.baseline))
    settings = report.settings
    return [
        [
            name,
            rate_text(comparison.rate),
            rate_text(current),
            _baseline_cell(comparison).split(" ")[0],
            f"{'sign' if comparison.test == 'sign' else 'McNemar'} "
            f"{format_p_value(comparison.p_value)}",
            _rule_outcome(comparison, settings.alpha, settings.max_drop),
        ]
        for name, current, comparison in compared
    ]


_BASELINE_RULE_HEADERS = ["against the baseline", "before", "now", "delta", "test", "outcome"]


def _rule_outcome(comparison: BaselineDelta, alpha: float, max_drop: float) -> str:
    """What the baseline rule made of one comparison, naming the half that held it back."""
    held = comparison.held_back_by
    if comparison.verdict == "fail":
        return f"BLOCKS: p < alpha {alpha:g} and a drop over {max_drop:.2f}"
    if comparison.delta is None:
        return "nothing to compare"
    if held is None:
        return "no drop"
    if comparison.verdict == "info":
        return "not gated (info group)"
    reasons = []
    if "alpha" in held:
        reasons.append(f"not significant (p ≥ alpha {alpha:g})")
    if "max_drop" in held:
        reasons.append(f"within --llm-max-drop {max_drop:.2f}")
    return "tolerated: " + ", ".join(reasons)


def _run_condition_lines(report: Report, escape: _Escape) -> list[str]:
    """One line each for a dead endpoint and the store's problems (empty when neither)."""
    lines: list[str] = []
    down = report.endpoint_down
    if down is not None:
        lines.append(
            f"Endpoint down: {escape(down.url)} refused connections;"
            f" {plural(down.cases, 'case')} failed at once without waiting for it"
        )
    lines += [f"Store: {escape(problem)}" for problem in report.store_problems]
    lines += condition_lines(report, escape)
    return ["", *lines] if lines else []


def _errors_headline(report: Report) -> str:
    errors = report.errors
    return (
        f"Errors: {errors.count} ({errors.infrastructure} infrastructure, "
        f"{errors.test_errors} in test code); first ones:"
    )


def _failures_headline(report: Report) -> str:
    failures = report.failures
    headline = plural(failures.count, "failed case")
    if len(failures.first) < failures.count:
        return f"{headline}; the first {len(failures.first)}:"
    return f"{headline}:"


def _error_text(error_type: str | None, message: str | None) -> str:
    if error_type and message:
        return f"{error_type}: {message}"
    return error_type or message or ""


def _score(value: float | None) -> str:
    """A score as written: whole numbers as integers (a judge's 3), others with two decimals."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _interval(group: GroupSummary) -> str:
    if group.ci_low is None or group.ci_high is None:
        return ""
    return f"[{group.ci_low:.2f}, {group.ci_high:.2f}]"


def _rate_with_interval(group: GroupSummary) -> str:
    interval = _interval(group)
    return f"{rate_text(group.pass_rate)} {interval}" if interval else rate_text(group.pass_rate)


def _baseline_change(baseline: BaselineDelta | None, now: float | None) -> str:
    """`0.90 → 0.80 (p=0.50)`: the baseline's rate, this run's, and on a drop its p-value."""
    if baseline is None:
        return ""
    if baseline.delta is None:
        return "n/a"
    before, after = distinct_rates(baseline.rate, now)
    change = f"{before} → {after}"
    return change if baseline.delta >= 0 else f"{change} ({format_p_value(baseline.p_value)})"


def _worse_better(baseline: BaselineDelta | None) -> str:
    return "" if baseline is None else f"{baseline.worsened}/{baseline.improved}"


def _paired_changes(baseline: BaselineDelta) -> str:
    """`, 2 cases worse, 1 better` of the paired cases; '' when none changed."""
    if not baseline.worsened and not baseline.improved:
        return ""
    return f", {plural(baseline.worsened, 'case')} worse, {baseline.improved} better"


def _limit(group: GroupSummary) -> str:
    if group.kind == "safety" and group.max_unsafe is not None:
        return f"unsafe ≤ {group.max_unsafe}"
    return "" if group.threshold is None else f"≥ {group.threshold:.2f}"


def _baseline_cell(baseline: BaselineDelta | None) -> str:
    if baseline is None:
        return ""
    if baseline.delta is None:
        return "n/a"
    if baseline.delta >= 0:
        return f"+{baseline.delta:.2f}"
    return f"−{-baseline.delta:.2f} ({format_p_value(baseline.p_value)})"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str], style: str) -> list[str]:
    if style == "simple":  # the terminal's: columns no wider than they must be
        return table(headers, rows)
    # disable_numparse: tabulate would otherwise turn "0.90" into "0.9" and re-align it.
    return tabulate(rows, headers=headers, tablefmt=style, disable_numparse=True).splitlines()
