"""The HTML report as a file: its sections, its escaping, and that it loads nothing."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest

from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.html import LIST_OUTPUT_LIMIT, html_report
from pytest_llmeval.report.model import RunInfo
from tests.factories import case_record, flipped_runs, gate_settings, json_round_trip, output


class Page(HTMLParser):
    """The page's elements, in order: (tag, attributes), and the text of the whole page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def ids(self) -> list[str]:
        return [str(attrs["id"]) for _, attrs in self.elements if attrs.get("id")]


def test_the_verdict_and_its_reasons_come_first() -> None:
    report, baseline = flipped_runs()
    html = html_report(report, baseline=baseline)
    page = Page(html)

    assert next(tag for tag, attrs in page.elements if attrs.get("id") == "verdict") == "header"
    assert page.ids()[0] == "verdict"
    header = html[html.index('id="verdict"') : html.index("</header>")]
    assert "BLOCK" in header
    for reason in report["gate"]["reasons"]:
        assert reason.replace("'", "&#39;").replace('"', "&#34;") in header


def test_sections_in_order_groups_charts_flipped_then_every_case() -> None:
    report, baseline = flipped_runs()
    report["changes"] = {"thresholds": [{"group": "intent", "before": 0.9, "now": 0.8}]}
    ids = Page(html_report(report, baseline=baseline)).ids()

    order = ["verdict", "changes", "groups", "charts", "flipped", "every-case"]
    assert [ids.index(name) for name in order] == sorted(ids.index(name) for name in order)
    flips = [name for name in ids if name.startswith("flip-")]
    cases = [name for name in ids if name.startswith("case-")]
    assert len(flips) == 3
    assert len(cases) == 10
    assert ids.index(flips[-1]) < ids.index(cases[0])


def test_each_flipped_case_shows_both_outputs_and_a_word_diff() -> None:
    report, baseline = flipped_runs()
    html = html_report(report, baseline=baseline)
    flip = html[html.index('id="flip-2"') : html.index('id="flip-3"')]

    assert "tests/test_intent.py::test_intent[case-1]" in flip
    assert "&#34;billing&#34;, &#34;ticket&#34;: 1}" in flip  # the baseline's output
    assert "&#34;login&#34;, &#34;ticket&#34;: 1}" in flip  # this run's
    assert "<del>&#34;billing&#34;, </del><ins>&#34;login&#34;, </ins>" in flip


def test_without_the_baseline_report_a_flipped_case_shows_the_current_output() -> None:
    report, _ = flipped_runs()
    html = html_report(report)
    flip = html[html.index('id="flip-2"') : html.index('id="flip-3"')]

    assert "not in the baseline report given" in flip
    assert "&#34;login&#34;" in flip
    assert "<del>" not in flip


def test_model_output_stays_text_everywhere() -> None:
    report, baseline = flipped_runs()
    html = html_report(report, baseline=baseline)
    page = Page(html)

    tags = [tag for tag, _ in page.elements]
    assert tags.count("script") == 1  # the page's own, at the end
    assert "img" not in tags
    assert not any(name.startswith("on") for _, attrs in page.elements for name in attrs)
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;document.body.dataset.pwned=1&#34;&gt;" in html
    assert "\x1b" not in html and "\\x1b[31mred\\x1b[0m" in html
    assert "\u202e" not in html and "\\u202eevil" in html
    assert "**bold** [click](http://evil.example/x)" in "".join(page.text)


def test_the_page_loads_nothing_and_runs_only_its_own_script_and_style() -> None:
    report, baseline = flipped_runs()
    html = html_report(report, baseline=baseline)
    page = Page(html)

    for tag, attrs in page.elements:
        assert tag not in ("link", "img", "iframe", "object", "embed", "video", "audio", "base")
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "file:", "data:")), (tag, attrs)
            assert not value or value.startswith("#"), (tag, attrs)
    style = html[html.index("<style>") + 7 : html.index("</style>")]
    script = html[html.rindex("<script>") + 8 : html.rindex("</script>")]
    assert "url(" not in style and "@import" not in style
    assert not re.search(r"fetch|XMLHttpRequest|import\(|\.src\b|innerHTML|eval\(", script)
    policy = next(
        attrs["content"]
        for tag, attrs in page.elements
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert policy is not None and "default-src 'none'" in policy
    for source, directive in ((script, "script-src"), (style, "style-src")):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy


def test_a_report_object_and_its_json_render_the_same_page() -> None:
    before = [case_record(index, output=output("old")) for index in range(4)]
    baseline = json_round_trip(build_report(before, RunInfo(model="m"), gate_settings()).to_dict())
    now = [
        case_record(index, outcome="failed" if index == 2 else "passed", output=output("new"))
        for index in range(4)
    ]
    report = build_report(now, RunInfo(model="m"), gate_settings(), baseline=baseline)

    assert html_report(report, baseline=baseline) == html_report(
        json_round_trip(report.to_dict()), baseline=baseline
    )


def test_the_changes_section_renders_whatever_the_report_holds() -> None:
    report, baseline = flipped_runs()
    report["changes"] = {
        "settings": [{"group": "intent", "setting": "threshold", "baseline": 0.9, "now": 0.8}],
        "cases": {"added": ["t::new<b>"], "removed": []},
        "answers_changed": 2,
    }
    html = html_report(report, baseline=baseline)
    changes = html[html.index('id="changes"') : html.index('id="groups"')]

    assert "<th>setting</th>" in changes and "<td>threshold</td>" in changes
    assert "<td>0.9</td><td>0.8</td>" in changes
    assert "t::new&lt;b&gt;" in changes
    assert "<dt>removed</dt><dd>none</dd>" in changes
    assert "<dt>answers_changed</dt><dd>2</dd>" in changes


def test_without_changes_there_is_no_changes_section() -> None:
    report, baseline = flipped_runs()
    report.pop("changes", None)
    assert 'id="changes"' not in html_report(report, baseline=baseline)
    report["changes"] = None  # a report compared with no baseline
    assert 'id="changes"' not in html_report(report, baseline=baseline)


def test_the_changes_sentences_come_before_its_fields() -> None:
    report, baseline = flipped_runs()
    report["changes"] = {
        "settings": [{"group": "intent", "setting": "threshold", "before": 0.9, "now": 0.6}],
        "lines": ["group 'intent': threshold lowered from 0.90 to 0.60 <relaxed>"],
    }
    html = html_report(report, baseline=baseline)
    changes = html[html.index('id="changes"') : html.index('id="groups"')]

    sentence = changes.index("threshold lowered from 0.90 to 0.60 &lt;relaxed&gt;</li>")
    assert sentence < changes.index("<details><summary>Every field</summary>")
    assert "<td>threshold</td>" in changes


def test_groups_show_rate_interval_threshold_and_baseline() -> None:
    report, baseline = flipped_runs()
    html = html_report(report, baseline=baseline)
    groups = html[html.index('id="groups"') : html.index('id="charts"')]

    assert "<td>intent</td>" in groups
    assert "<td>0.70</td>" in groups  # 7 of 10 passed
    assert f"[{report['groups'][0]['ci_low']:.2f}, {report['groups'][0]['ci_high']:.2f}]" in groups
    assert "≥ 0.90" in groups
    assert "1.00 → 0.70" in groups
    assert "<td>3 / 0</td>" in groups
    assert "Compared with main.json" in groups


def test_charts_are_inline_svg_of_the_reports_counts() -> None:
    report, baseline = flipped_runs()
    html = html_report(report, baseline=baseline)
    charts = html[html.index('id="charts"') : html.index('id="flipped"')]

    assert "<svg" in charts and "no_json_start" in charts
    assert re.search(r"<title>no_json_start: 3</title>", charts)
    assert "<title>intent failed: 3</title>" in charts


def test_judge_score_distributions_are_charted() -> None:
    records = [
        case_record(index, "summary", kind="judge", judge_scores=[score])
        for index, score in enumerate([2, 4, 4, 5])
    ]
    html = html_report(build_report(records, RunInfo(model="m"), gate_settings()))

    chart = html[html.index('id="chart-scores-summary"') :]
    assert "<title>4: 2</title>" in chart and "<title>2: 1</title>" in chart


def test_every_case_carries_what_the_filters_read_and_its_details() -> None:
    record = case_record(
        1,
        outcome="failed",
        category="missing_field",
        finish_reason="length",
        output=output("x" * (LIST_OUTPUT_LIMIT + 50)),
        request=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    record_dict = json_round_trip(
        build_report([record], RunInfo(model="m"), gate_settings()).to_dict()
    )
    record_dict["cases"][0].update(
        parse_detail="'intent' is a required property",
        judge_reasoning=["The answer <ignores> the question."],
        moderation_scores={"violence_and_threats": 0.91, "pii": 0.0},
    )
    html = html_report(record_dict)
    case = html[html.index('id="case-1"') :]

    assert 'data-group="triage" data-outcome="failed" data-category="missing_field"' in case
    assert "<dt>finish_reason</dt><dd>length</dd>" in case
    assert "<dd>&#39;intent&#39; is a required property</dd>" in case
    assert "<dd>The answer &lt;ignores&gt; the question.</dd>" in case
    assert "violence_and_threats 0.91, pii 0" in case
    assert '<p class="role">system</p><pre class="request">be brief</pre>' in case
    assert "… 50 more characters" in case


def test_the_filters_are_hidden_until_the_script_shows_them() -> None:
    report, baseline = flipped_runs()
    html = html_report(report, baseline=baseline)

    assert '<form id="filters" hidden>' in html
    assert "<option>failed</option>" in html and "<option>no_json_start</option>" in html


@pytest.mark.parametrize("cases", [1000])
def test_a_thousand_cases_stay_under_three_megabytes(cases: int) -> None:
    before = [
        case_record(
            index,
            f"group_{index % 5}",
            output=output('{"intent": "billing", "summary": "' + "word " * 60 + '"}'),
            request=[
                {"role": "system", "content": "You triage support tickets. " * 8},
                {"role": "user", "content": "My invoice is wrong " * 10},
            ],
        )
        for index in range(cases)
    ]
    baseline = json_round_trip(build_report(before, RunInfo(model="m"), gate_settings()).to_dict())
    now = [
        {**record, "outcome": "failed" if index % 4 == 0 else "passed"}
        for index, record in enumerate(before)
    ]
    report = build_report(now, RunInfo(model="m"), gate_settings(), baseline=baseline)  # type: ignore[arg-type]

    assert len(html_report(report, baseline=baseline).encode("utf-8")) < 3_000_000
