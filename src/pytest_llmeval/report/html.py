"""The HTML report: one self-contained page a reviewer opens offline, rendered with Jinja2.

It renders the report's dict (`Report.to_dict()`, or a JSON report read back) as it is:
every figure is the report's, formatted here, never recomputed. Whatever came from the
model, the dataset or the test (outputs, requests, reasons, node ids, group names) reaches
the page only through Jinja2's autoescaping, with control characters shown as escapes; the
page loads nothing (its CSS and script are inline, charts are inline SVG) and its Content
Security Policy lets only its own script and style run, by hash.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, TypeGuard

from pytest_llmeval.report.stats import format_p_value
from pytest_llmeval.report.word_diff import word_diff
from pytest_llmeval.report.wording import distinct_rates, plural, rate_text

if TYPE_CHECKING:
    import jinja2

    from pytest_llmeval.report.model import Report

# The flipped cases shown in full, with both outputs and their diff; any further ones are
# listed by node id, each linking to its entry in the list of every case.
FLIPPED_SHOWN = 30
# Characters of each text in a flipped case (the JSON report keeps at most 4,096).
FLIPPED_TEXT_LIMIT = 4096
# Characters of an output, and of each request message, in the list of every case: enough
# to read a case, few enough that 1,000 cases stay well under 3 MB.
LIST_OUTPUT_LIMIT = 1000
LIST_MESSAGE_LIMIT = 400
LIST_MESSAGES = 4  # the last ones of a request: the earlier ones are counted
# Width in SVG units of the longest bar of a chart.
BAR_WIDTH = 320

# Characters that could recolour a terminal a page is pasted into, reorder text (bidi
# controls) or hide in it: model output is untrusted, so they are shown as escapes. New
# lines and tabs stay, the outputs are preformatted.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_OUTCOMES = ("failed", "error", "passed")


def html_report(
    report: Report | Mapping[str, Any],
    *,
    baseline: Mapping[str, Any] | None = None,
) -> str:
    """The page for `report` (a `Report`, or the dict of a JSON report).

    `baseline` is the JSON report the run was compared with: its cases' outputs are the
    "before" side of each flipped case. Without it the flipped cases are still listed, with
    the current output only.
    """
    data: Mapping[str, Any] = report.to_dict() if hasattr(report, "to_dict") else report
    page = _page(data, baseline)
    text = _template().render(page=page, css=_asset("report.css"), script=_asset("report.js"))
    # Lone surrogates (from broken model output) cannot be written as UTF-8; `visible`
    # escapes those in texts, this catches any left in a key or a name.
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# -- the page's content, as plain dicts and strings for the template -------------------------


def _page(data: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    gate = _mapping(data.get("gate"))
    run = _mapping(data.get("run"))
    totals = _mapping(data.get("totals"))
    cases = [case for case in _sequence(data.get("cases")) if isinstance(case, Mapping)]
    groups = [group for group in _sequence(data.get("groups")) if isinstance(group, Mapping)]
    passed = gate.get("passed") is True
    flipped, more_flipped = _flipped(groups, cases, baseline)
    case_views = [_case_view(number, case) for number, case in enumerate(cases, 1)]
    return {
        "passed": passed,
        "verdict": str(gate.get("verdict") or ("promote" if passed else "block")).upper(),
        "reasons": [_visible(reason) for reason in _sequence(gate.get("reasons"))],
        "headline": _headline(run, totals),
        "warnings": [_visible(warning) for warning in _sequence(run.get("warnings"))],
        "has_changes": data.get("changes") is not None,
        "changes": _node(data.get("changes")),
        "change_lines": _change_lines(data.get("changes")),
        "groups": [_group_row(group) for group in groups],
        "baseline": _baseline_line(_mapping(data.get("baseline"))),
        "charts": _charts(data, groups),
        "flipped": flipped,
        "more_flipped": more_flipped,
        "flipped_counts": _flipped_counts(groups),
        "compared": any(isinstance(group.get("baseline"), Mapping) for group in groups),
        "cases": case_views,
        "filters": {
            "groups": sorted({view.group for view in case_views}),
            "outcomes": [o for o in _OUTCOMES if o in {view.outcome for view in case_views}],
            "categories": sorted({view.category for view in case_views if view.category}),
        },
        "footer": _footer(data, run),
    }


def _headline(run: Mapping[str, Any], totals: Mapping[str, Any]) -> str:
    model = f"model {_visible(run.get('model') or '(none)')}"
    if run.get("judge_model"):
        model += f", judge {_visible(run.get('judge_model'))}"
    counts = (
        f"{plural(_int(totals.get('cases')), 'case')}: {_int(totals.get('passed'))} passed, "
        f"{_int(totals.get('failed'))} failed, {plural(_int(totals.get('errors')), 'error')}"
    )
    started = _visible(run.get("started"))
    duration = run.get("duration_s")
    tail = f"started {started}" if started else ""
    if isinstance(duration, (int, float)):
        tail += f", {duration:.1f} s"
    if run.get("complete") is False:
        tail += ", subset run"
    return "; ".join(part for part in (model, counts, tail) if part)


def _footer(data: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    version = run.get("plugin_version")
    made = f"pytest-llmeval {_visible(version)}" if version else "pytest-llmeval"
    return f"{made}, report schema {_visible(data.get('schema_version'))}"


def _group_row(group: Mapping[str, Any]) -> dict[str, Any]:
    name = _visible(group.get("name"))
    low, high = group.get("ci_low"), group.get("ci_high")
    interval = f"[{low:.2f}, {high:.2f}]" if _number(low) and _number(high) else ""
    comparison = _mapping(group.get("baseline"))
    row: dict[str, Any] = {
        "name": name,
        "kind": _visible(group.get("kind")),
        "cases": _int(group.get("cases")),
        "passed": _int(group.get("passed")),
        "failed": _int(group.get("failed")),
        "errors": _int(group.get("errors")),
        "rate": _rate(group.get("pass_rate")),
        "interval": interval,
        "limit": _limit(group),
        "verdict": _visible(group.get("verdict")),
        "blocks": group.get("verdict") in ("fail", "no_evidence"),
        "baseline": "",
        "worse": None,
        "better": None,
    }
    if comparison:
        before, now = comparison.get("pass_rate"), group.get("pass_rate")
        delta = comparison.get("delta")
        if _number(before) and _number(now) and _number(delta):
            shown_before, shown_now = distinct_rates(before, now)
            row["baseline"] = f"{shown_before} → {shown_now}"
            if delta < 0 and _number(comparison.get("p_value")):
                row["baseline"] += f" ({format_p_value(comparison['p_value'])})"
        else:
            row["baseline"] = "n/a"
        row["worse"] = _int(comparison.get("worsened"))
        row["better"] = _int(comparison.get("improved"))
    return row


def _limit(group: Mapping[str, Any]) -> str:
    if group.get("kind") == "safety" and _number(group.get("max_unsafe")):
        return f"unsafe ≤ {int(group['max_unsafe'])}"
    threshold = group.get("threshold")
    return f"≥ {threshold:.2f}" if _number(threshold) else ""


def _baseline_line(comparison: Mapping[str, Any]) -> str:
    if not comparison:
        return ""
    against = _visible(comparison.get("source") or "the baseline report")
    if comparison.get("model"):
        against += f" (model {_visible(comparison.get('model'))}"
        started = comparison.get("started")
        against += f", started {_visible(started)})" if started else ")"
    paired = _int(comparison.get("paired_cases"))
    return f"Compared with {against}; {plural(paired, 'case')} in both runs."


# -- charts ----------------------------------------------------------------------------------


def _charts(data: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Bar charts of the report's own counts: failed and errored cases per group, strict-JSON
    failure categories, moderation categories, and each judge group's score distribution."""
    charts: list[dict[str, Any]] = []
    unpassed = {
        f"{_visible(group.get('name'))} {outcome}": _int(group.get(key))
        for group in groups
        for outcome, key in (("failed", "failed"), ("errors", "errors"))
        if _int(group.get(key))
    }
    if groups:
        charts.append(
            _bar_chart(
                "outcomes",
                "Failed and errored cases by group",
                f"{plural(len(groups), 'group')}",
                unpassed,
                "Every case passed.",
            )
        )
    format_summary = _mapping(data.get("format"))
    categories = {
        str(name): count
        for name, count in _mapping(format_summary.get("categories")).items()
        if name != "valid"
    }
    checked = _int(format_summary.get("checked"))
    if checked:
        valid = _int(format_summary.get("valid"))
        charts.append(
            _bar_chart(
                "format",
                "Strict-JSON failure categories",
                f"{valid} of {plural(checked, 'output')} valid",
                categories,
                "No output failed its strict-JSON check.",
            )
        )
    safety = _mapping(data.get("safety"))
    if _int(safety.get("flagged")):
        charts.append(
            _bar_chart(
                "safety",
                "Moderation: flagged cases by category",
                f"{plural(_int(safety.get('flagged')), 'case')} flagged",
                {str(name): count for name, count in _mapping(safety.get("categories")).items()},
                "",
            )
        )
    for group in groups:
        distribution = _mapping(group.get("score_distribution"))
        if distribution:
            charts.append(
                _bar_chart(
                    f"scores-{_visible(group.get('name'))}",
                    f"Judge scores of {_visible(group.get('name'))}",
                    f"{plural(_int(group.get('judged')), 'score')}",
                    {str(score): count for score, count in distribution.items()},
                    "",
                )
            )
    return charts


def _bar_chart(
    key: str, title: str, caption: str, counts: Mapping[str, Any], empty: str
) -> dict[str, Any]:
    bars = [(label, _int(count)) for label, count in counts.items()]
    top = max((count for _, count in bars), default=0)
    label_width = 8 * max((len(label) for label, _ in bars), default=4) + 12
    return {
        "key": key,
        "title": title,
        "caption": caption,
        "empty": empty,
        "label_width": label_width,
        "width": label_width + BAR_WIDTH + 60,
        "height": 22 * len(bars) + 4,
        "bars": [
            {
                "label": _visible(label),
                "count": count,
                "y": 22 * index + 2,
                "width": round(BAR_WIDTH * count / top, 1) if top else 0,
            }
            for index, (label, count) in enumerate(bars)
        ],
    }


# -- flipped cases -----------------------------------------------------------------------------


def _flipped_counts(groups: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    worse = better = 0
    for group in groups:
        comparison = _mapping(group.get("baseline"))
        worse += len(_sequence(comparison.get("worse")))
        better += len(_sequence(comparison.get("better")))
    return {"worse": worse, "better": better}


def _flipped(
    groups: Sequence[Mapping[str, Any]],
    cases: Sequence[Mapping[str, Any]],
    baseline: Mapping[str, Any] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every flipped case the report names (`baseline.worse`, then `baseline.better`, per
    group): the first FLIPPED_SHOWN in full, the rest as links."""
    named = [
        (direction, _visible(group.get("name")), str(nodeid))
        for direction in ("worse", "better")
        for group in groups
        for nodeid in _sequence(_mapping(group.get("baseline")).get(direction))
    ]
    if not named:
        return [], []
    now = _case_index(cases)
    numbers = {id(case): number for number, case in enumerate(cases, 1)}
    before = _case_index(
        [case for case in _sequence((baseline or {}).get("cases")) if isinstance(case, Mapping)]
    )
    shown: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    for index, (direction, group, nodeid) in enumerate(named):
        current = now.get(nodeid)
        anchor = f"case-{numbers[id(current)]}" if current is not None else ""
        entry: dict[str, Any] = {
            "direction": direction,
            "group": group,
            "nodeid": _visible(nodeid),
            "anchor": anchor,
        }
        if index >= FLIPPED_SHOWN:
            listed.append(entry)
            continue
        previous = before.get(nodeid)
        after_text = _output_text(current)
        before_text = _output_text(previous)
        entry.update(
            number=index + 1,
            now=_side(current),
            before=_side(previous),
            diff=(
                [
                    {"kind": part.kind, "text": _visible(part.text)}
                    for part in word_diff(
                        before_text[:FLIPPED_TEXT_LIMIT], after_text[:FLIPPED_TEXT_LIMIT]
                    )
                ]
                if current is not None and previous is not None
                else []
            ),
        )
        shown.append(entry)
    return shown, listed


def _case_index(cases: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Cases by node id and, for repeated runs, by the case their runs belong to (its first)."""
    index: dict[str, Mapping[str, Any]] = {}
    for case in cases:
        index.setdefault(str(case.get("nodeid")), case)
        if case.get("case"):
            index.setdefault(str(case["case"]), case)
    return index


def _output_text(case: Mapping[str, Any] | None) -> str:
    output = _mapping(case.get("output")) if case is not None else {}
    text = output.get("text")
    return text if isinstance(text, str) else ""


def _side(case: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One side of a flipped case: outcome, category, reason and output."""
    if case is None:
        return None
    output = _mapping(case.get("output"))
    text = _output_text(case)
    return {
        "outcome": _visible(case.get("outcome")),
        "category": _visible(case.get("category")),
        "message": _visible(case.get("message")),
        "has_output": isinstance(output.get("text"), str),
        "output": _visible(text[:FLIPPED_TEXT_LIMIT]),
        "cut": max(0, _int(output.get("length"), len(text)) - min(len(text), FLIPPED_TEXT_LIMIT)),
    }


# -- every case --------------------------------------------------------------------------------


class CaseView(NamedTuple):
    """One case as the list of every case shows it: texts made visible, bounded, formatted.

    A tuple, not a dict: the template reads its fields as attributes, which Jinja2 finds
    at once on a tuple and only after a failed attribute lookup on a dict (10,000 cases).
    """

    anchor: str
    nodeid: str
    group: str
    kind: str
    outcome: str
    category: str
    finish_reason: str
    message: str
    error_type: str
    parse_detail: str
    request: list[tuple[str, str]]  # (role, content) of the last LIST_MESSAGES messages
    earlier_messages: int  # the request's messages before those
    output: str | None
    output_cut: int  # characters of the output not shown
    judge_scores: str
    judge_reasoning: list[str]
    moderation: list[tuple[str, str]]  # (category, score)
    scores: list[tuple[str, str]]  # (name, value)


def _case_view(number: int, case: Mapping[str, Any]) -> CaseView:
    output = _mapping(case.get("output"))
    text = output.get("text")
    output_text = text if isinstance(text, str) else None
    shown = None if output_text is None else _visible(output_text[:LIST_OUTPUT_LIMIT])
    cut = 0
    messages = [
        message for message in _sequence(case.get("request")) if isinstance(message, Mapping)
    ]
    if output_text is not None:
        length = _int(output.get("length"), len(output_text))
        cut = max(0, length - min(len(output_text), LIST_OUTPUT_LIMIT))
    return CaseView(
        anchor=f"case-{number}",
        nodeid=_visible(case.get("nodeid")),
        group=_visible(case.get("group")),
        kind=_visible(case.get("kind")),
        outcome=_visible(case.get("outcome")),
        category=_visible(case.get("category")),
        finish_reason=_visible(case.get("finish_reason")),
        message=_visible(case.get("message")),
        error_type=_visible(case.get("error_type")),
        parse_detail=_visible(case.get("parse_detail")),
        request=[
            (
                _visible(message.get("role")),
                _visible(_cut(message.get("content"), LIST_MESSAGE_LIMIT)),
            )
            for message in messages[-LIST_MESSAGES:]
        ],
        earlier_messages=max(0, len(messages) - LIST_MESSAGES),
        output=shown,
        output_cut=cut,
        judge_scores=", ".join(_score(score) for score in _sequence(case.get("judge_scores"))),
        judge_reasoning=[_visible(text) for text in _sequence(case.get("judge_reasoning"))],
        moderation=[
            (_visible(name), _score(score))
            for name, score in _mapping(case.get("moderation_scores")).items()
        ],
        scores=[
            (_visible(name), _score(value)) for name, value in _mapping(case.get("scores")).items()
        ],
    )


def _cut(value: object, limit: int) -> str:
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


# -- the generic rendering of a section the page does not know in detail ------------------------


def _change_lines(changes: object) -> list[str]:
    """The sentences a `changes` section says itself (its `lines`), shown before its fields."""
    lines = _mapping(changes).get("lines")
    if not isinstance(lines, list):
        return []
    return [_visible(line) for line in lines if isinstance(line, str)]


def _node(value: object) -> dict[str, Any]:
    """A JSON value as a tree the template draws: objects as definition lists, lists of
    objects as tables (a column per key), other lists as bullet lists, the rest as text."""
    if isinstance(value, Mapping):
        if not value:
            return {"type": "text", "text": "none"}
        return {
            "type": "dict",
            "items": [(_visible(key), _node(item)) for key, item in value.items()],
        }
    if isinstance(value, (list, tuple)):
        if not value:
            return {"type": "text", "text": "none"}
        if all(isinstance(item, Mapping) for item in value):
            headers: dict[str, None] = {}
            for item in value:
                headers.update(dict.fromkeys(str(key) for key in item))
            return {
                "type": "table",
                "headers": [_visible(header) for header in headers],
                "rows": [[_node(item.get(header)) for header in headers] for item in value],
            }
        return {"type": "list", "items": [_node(item) for item in value]}
    if value is None:
        return {"type": "text", "text": "–"}
    if isinstance(value, bool):
        return {"type": "text", "text": "yes" if value else "no"}
    return {"type": "text", "text": _visible(value)}


# -- small pieces ------------------------------------------------------------------------------


def _visible(value: object) -> str:
    """Untrusted text made visible as it is: control and bidi characters, and lone
    surrogates, as escapes (the template escapes the HTML)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(_escape_control, text)


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _rate(value: object) -> str:
    return rate_text(float(value)) if _number(value) else "n/a"


def _score(value: object) -> str:
    if not _number(value):
        return "–"
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.2f}"


def _number(value: object) -> TypeGuard[float]:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _int(value: object, default: int = 0) -> int:
    return int(value) if _number(value) else default


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, (list, tuple)) else ()


# -- Jinja2 -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_llmeval.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = _environment()
    environment.globals["csp"] = _content_security_policy()
    return environment.get_template("report.html.j2")


@lru_cache(maxsize=4)
def _asset(name: str) -> Any:
    """An inline asset (CSS, script) as markup: written into the page as it is."""
    import markupsafe

    loader = _environment().loader
    assert loader is not None
    source, _, _ = loader.get_source(_environment(), name)
    return markupsafe.Markup(source)


def _content_security_policy() -> str:
    """Nothing loads, and only the page's own script and style run: a `<script>` or an
    `onerror=` that got past the escaping would still not execute."""

    def digest(name: str) -> str:
        hashed = hashlib.sha256(str(_asset(name)).encode("utf-8")).digest()
        return f"'sha256-{base64.b64encode(hashed).decode('ascii')}'"

    return (
        f"default-src 'none'; script-src {digest('report.js')}; "
        f"style-src {digest('report.css')}; img-src 'none'; base-uri 'none'; form-action 'none'"
    )
