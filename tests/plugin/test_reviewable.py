"""The reviewable check through pytest: `--llm-html`, `baseline.worse` / `baseline.better`,
and `llmeval diff`, on a 23-case run with 8 regressions against its baseline run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.simulator import SimRequest, Simulator
from tests.conftest import simulator_args

CASES = 23
REGRESSED = range(8)
HOSTILE = 3
HOSTILE_TEXT = (
    "<script>document.title='pwned'</script>"
    '<img src=x onerror="document.body.dataset.pwned=1"> **not bold** \x1b[31mred\x1b[0m'
)

SUITE = """
import pytest

@pytest.mark.llm_metric("tickets", threshold={threshold})
@pytest.mark.parametrize("n", range({cases}))
def test_ticket(n, llm):
    reply = llm.chat(f"ticket {{n}}")
    assert reply.text == f"answer {{n}}", "wrong answer"
"""


def good(request: SimRequest) -> str | None:
    found = re.search(r"ticket (\d+)", request.last_user_message)
    return f"answer {found[1]}" if found and request.endpoint == "chat" else None


def regressed(request: SimRequest) -> str | None:
    found = re.search(r"ticket (\d+)", request.last_user_message)
    if not found or request.endpoint != "chat":
        return None
    number = int(found[1])
    if number == HOSTILE:
        return HOSTILE_TEXT
    return f"wrong {number}" if number in REGRESSED else f"answer {number}"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def runs(pytester: pytest.Pytester) -> pytest.Pytester:
    """The baseline run (every case passes) written to base.json, then the suite with its
    threshold lowered, for the regressed run."""
    pytester.makepyfile(test_tickets=SUITE.format(threshold=0.9, cases=CASES))
    with Simulator(good) as server:
        args = [*simulator_args(server), "--llm-store=store-base", "--llm-report=base.json"]
        assert pytester.runpytest(*args).ret == 0
    pytester.makepyfile(test_tickets=SUITE.format(threshold=0.6, cases=CASES))
    return pytester


def regressed_run(pytester: pytest.Pytester, *flags: str) -> pytest.RunResult:
    with Simulator(regressed) as server:
        return pytester.runpytest(
            *simulator_args(server),
            "--llm-store=store-head",
            "--llm-baseline=base.json",
            "--llm-report=head.json",
            "--llm-report-md=head.md",
            "--llm-html=report.html",
            *flags,
        )


def nodeid(number: int) -> str:
    return f"test_tickets.py::test_ticket[{number}]"


@pytest.mark.parametrize("flags", [[], ["-n", "2"]], ids=["inline", "xdist"])
def test_the_regressed_run_names_its_flipped_cases(runs: pytest.Pytester, flags: list[str]) -> None:
    result = regressed_run(runs, *flags)

    assert result.ret == 1
    head = load(runs.path / "head.json")
    comparison = head["groups"][0]["baseline"]
    assert comparison["worse"] == [nodeid(number) for number in REGRESSED]
    assert comparison["better"] == []
    assert comparison["worsened"] == len(comparison["worse"])
    lines = result.stdout.lines
    start = lines.index("tickets: 8 cases worse than the baseline, 0 better:")
    assert lines[start + 1 : start + 7] == [
        *(f"  worse: {nodeid(number)}" for number in range(5)),
        "  ... and 3 more worse (-v lists them all)",
    ]
    markdown = (runs.path / "head.md").read_text(encoding="utf-8")
    assert f"worse: `{nodeid(4)}`" in markdown and f"`{nodeid(5)}`" not in markdown
    assert "and 3 more worse" in markdown


def test_with_v_every_flipped_case_is_listed(runs: pytest.Pytester) -> None:
    result = regressed_run(runs, "-v")

    flipped = result.stdout.str().split("cases worse than the baseline")[1]
    for number in REGRESSED:
        assert f"worse: {nodeid(number)}" in flipped
    assert "more worse" not in flipped


def test_the_html_report_shows_the_eight_flips_first_with_both_outputs(
    runs: pytest.Pytester, tmp_path: Path
) -> None:
    from tests.browser.chromium import dump_dom, screenshot
    from tests.browser.test_html_in_chromium import Dom

    regressed_run(runs)
    page = runs.path / "report.html"
    html = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)

    dom = Dom(dump_dom(page, tmp_path / "dom"))
    assert dom.title == "llmeval gate: BLOCK"
    assert "data-pwned" not in next(attrs for tag, attrs in dom.elements if tag == "body")
    ids = dom.ids()
    flips = [name for name in ids if name.startswith("flip-")]
    cases = [name for name in ids if name.startswith("case-")]
    assert len(flips) == 8 and len(cases) == CASES
    assert ids.index("verdict") < ids.index(flips[0]) < ids.index(flips[-1]) < ids.index(cases[0])
    assert [attrs["data-nodeid"] for attrs in dom.with_class("flip")] == [
        nodeid(number) for number in REGRESSED
    ]
    text = "".join(dom.text)
    assert "answer 1" in text and "wrong 1" in text  # both outputs of a flip
    assert HOSTILE_TEXT.replace("\x1b", "\\x1b") in text
    screenshot(page, tmp_path / "shot")
    head = load(runs.path / "head.json")
    if head.get("changes"):  # the changes section, when this build has it
        changes = html[html.index('id="changes"') : html.index('id="groups"')]
        assert "threshold" in changes


def test_llmeval_diff_lists_the_flips_and_exits_1(runs: pytest.Pytester) -> None:
    regressed_run(runs)

    done = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval", "diff", "base.json", "head.json"],
        cwd=runs.path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "8 cases worse, 0 better, 0 now erroring; 23 cases in both, 0 added, 0 removed" in lines
    for number in REGRESSED:
        assert any(line.startswith(f"  {nodeid(number)} (tickets)") for line in lines)
    assert "llmeval gate of head.json: BLOCK" in lines
    back = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval", "diff", "head.json", "base.json"],
        cwd=runs.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert back.returncode == 0
    assert "Better (failed → passed): 8" in back.stdout


def test_without_the_option_no_html_is_written(runs: pytest.Pytester) -> None:
    with Simulator(regressed) as server:
        runs.runpytest(*simulator_args(server), "--llm-store=store-head")
    assert not list(runs.path.glob("*.html"))


def test_the_step_summary_links_the_html_report(
    runs: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = runs.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/triage")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    regressed_run(runs)

    text = summary.read_text(encoding="utf-8")
    assert "report.html" in text
    assert "https://github.com/acme/triage/actions/runs/4242#artifacts" in text


def test_a_case_carries_its_parse_detail_judge_reasoning_and_moderation_scores(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    simulator.add_rule(
        {"endpoint": "judge", "reply": json.dumps({"reasoning": "off <topic>", "score": 2})}
    )
    simulator.add_rule(
        {"endpoint": "moderation", "contains": "hate", "flag": ["hate_and_discrimination"]}
    )
    simulator.add_rule({"endpoint": "chat", "match": "triage", "reply": '{"priority": 9}'})
    pytester.makepyfile(
        test_review="""
        import pytest

        SCHEMA = {"type": "object", "properties": {"priority": {"maximum": 5}}}

        @pytest.mark.llm_metric("format")
        def test_format(llm, llm_json):
            llm_json(llm.chat("triage this"), schema=SCHEMA)

        @pytest.mark.llm_judge("summaries", threshold=0.5)
        def test_judged(llm_judge):
            assert llm_judge.score("a summary") >= 1

        @pytest.mark.llm_safety("toxicity")
        def test_moderated(llm_moderation):
            llm_moderation.assert_safe("I hate you")
        """
    )
    pytester.runpytest(*run_args, "--llm-report=report.json", "--llm-html=report.html")

    cases = {
        case["nodeid"].rsplit("::", 1)[1]: case
        for case in load(pytester.path / "report.json")["cases"]
    }
    assert (
        "9" in cases["test_format"]["parse_detail"] and "5" in cases["test_format"]["parse_detail"]
    )
    assert cases["test_judged"]["judge_reasoning"] == ["off <topic>"]
    scores = cases["test_moderated"]["moderation_scores"]
    assert scores["hate_and_discrimination"] == pytest.approx(0.9)
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert "<dd>off &lt;topic&gt;</dd>" in html
    assert "hate_and_discrimination 0.90" in html
    assert "<dt>parse detail</dt>" in html
