"""Every ```python sample in docs/*.md and README.md runs: test files through pytest against
the bundled simulator, the rest compiled, and executed when they need nothing from outside.

A sample opts out only with `<!-- not run: reason -->` right above its fence.
"""

from __future__ import annotations

import builtins
import json
import re
import symtable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  # see below
import jsonschema  # noqa: F401
import mistralai.client  # noqa: F401
import pytest

from pytest_llmeval import cases
from pytest_llmeval.simulator import SimRequest, Simulator
from tests.conftest import FT_MODEL
from tests.unit.test_docs_markdown import DOCS, FencedBlock, documentation_files, fenced_blocks

# pytester forgets every module an inner run imported; imported here, the SDK, jsonschema and
# hypothesis are loaded once for all the samples instead of once for each (seconds apiece).

SYSTEM = "You triage support tickets. Answer with JSON only."

# The dataset every sample's `cases("...")` file gets: fine-tuning rows, as a validation split.
TICKETS = [
    ("T-1", "I was charged twice for my subscription this month.", "billing", 2),
    ("T-2", "The export button crashes the app on Android.", "bug", 1),
    ("T-3", "How do I change the e-mail address of my account?", "account", 3),
    ("T-4", "Please add a dark mode to the dashboard.", "feature_request", 4),
    ("T-5", "Where can I find your office address?", "other", 5),
]


def answer_of(ticket: str, category: str, priority: int) -> str:
    summary = f"The customer writes: {ticket[:-1].lower()}."
    return json.dumps({"category": category, "priority": priority, "summary": summary})


ANSWERS = {
    ticket: answer_of(ticket, category, priority) for _, ticket, category, priority in TICKETS
}


# Replies to the prompts the samples send that are not tickets, as a well-tuned model gives them.
SCRIPTED = {
    "Order 4417: two blue mugs and a teapot.": json.dumps(
        {"order_id": "4417", "items": ["blue mug", "blue mug", "teapot"]}
    ),
}


def dataset_rows() -> str:
    rows = [
        {
            "id": ticket_id,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": ticket},
                {"role": "assistant", "content": ANSWERS[ticket]},
            ],
            "human_score": 4,
            "base_reply": json.dumps({"category": "other", "priority": 3, "summary": "A ticket."}),
        }
        for ticket_id, ticket, _, _ in TICKETS
    ]
    return "".join(json.dumps(row) + "\n" for row in rows)


def plausible_answer(request: SimRequest) -> Any:
    """A model that answers as a well-tuned one would: each ticket with its expected triage,
    the samples' other prompts as scripted, anything else with a polite refusal that repeats
    the conversation's numbers (never obeying an injection), and a judge that gives every
    verdict shape its schema asks for."""
    if request.endpoint == "judge":
        schema = request.body["response_format"]["json_schema"]["schema"]
        return json.dumps(_judge_answer(schema))
    if request.endpoint != "chat":
        return None
    prompt = request.last_user_message
    if prompt in ANSWERS or prompt in SCRIPTED:
        return ANSWERS.get(prompt) or SCRIPTED[prompt]
    numbers = re.findall(r"\d+", f"{request.system_prompt} {prompt}")
    noted = f" (as noted: {', '.join(numbers)})" if numbers else ""
    return f"Sorry, I can only help with questions about your Acme orders{noted}."


def _judge_answer(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    if "score" in properties:
        return {"reasoning": "accurate and complete", "score": properties["score"]["maximum"]}
    if "winner" in properties:
        return {"reasoning": "both are equally good", "winner": "tie"}
    if "rules" in properties:
        count = properties["rules"]["minItems"]
        return {
            "rules": [
                {"rule": number, "passed": True, "reasoning": "the output keeps to it"}
                for number in range(1, count + 1)
            ]
        }
    raise AssertionError(f"a judge schema the docs' simulator does not know: {schema}")


@pytest.fixture(scope="module")
def plausible_model() -> Iterator[Simulator]:
    with Simulator(plausible_answer) as server:
        yield server


def python_blocks() -> list[FencedBlock]:
    return [
        block
        for path in documentation_files()
        for block in fenced_blocks(path)
        if block.info in ("python", "py")
    ]


def is_test_file(block: FencedBlock) -> bool:
    return re.search(r"^\s*(async\s+)?def test_", block.body, re.M) is not None


def sample_id(block: FencedBlock) -> str:
    return block.where


TEST_FILES = [block for block in python_blocks() if is_test_file(block)]
SNIPPETS = [block for block in python_blocks() if not is_test_file(block)]


def datasets_named(source: str) -> list[str]:
    return re.findall(r"""\bcases\(\s*["']([^"']+)["']""", source)


def run_args(server: Simulator) -> list[str]:
    return [
        f"--llm-model={FT_MODEL}",
        f"--llm-server-url={server.url}",
        "--llm-store=store",
        "--llm-record-mode=all",
        "--llm-report=report.json",
        "--llm-examples=3",  # a sample's hypothesis test is as right with 3 examples as with 20
        "--strict-markers",
        "-p",
        "no:cacheprovider",
    ]


def run_sample(
    pytester: pytest.Pytester, server: Simulator, source: str, *extra: str
) -> pytest.RunResult:
    """`source` as a test file in a fresh project, with the datasets it names, run."""
    for name in datasets_named(source):
        dataset = pytester.path / name
        dataset.parent.mkdir(parents=True, exist_ok=True)
        dataset.write_text(dataset_rows(), encoding="utf-8")
    pytester.makepyfile(test_sample=source)
    return pytester.runpytest(*run_args(server), *extra)


def test_the_docs_have_samples_of_each_kind() -> None:
    # The parametrized tests below would pass vacuously if the reader found nothing.
    assert len(TEST_FILES) >= 5 and len(SNIPPETS) >= 5


@pytest.mark.parametrize("block", [b for b in TEST_FILES if not b.opt_out], ids=sample_id)
def test_a_test_file_sample_runs_against_the_simulator(
    pytester: pytest.Pytester, plausible_model: Simulator, block: FencedBlock
) -> None:
    result = run_sample(pytester, plausible_model, block.body)
    outcomes = result.parseoutcomes()
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    assert not outcomes.get("errors") and not outcomes.get("error"), result.stdout.str()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) >= 1, result.stdout.str()
    # A sample may show a model failing its check, never a sample that is itself broken.
    report = pytester.path / "report.json"
    cases = json.loads(report.read_text("utf-8"))["cases"] if report.exists() else []
    for case in cases:
        assert case.get("error_type") in (None, "AssertionError", "JsonFormatError"), (
            f"{block.where}: {case['nodeid']} raised {case.get('error_type')}: "
            f"{case.get('message')}"
        )


def free_names(source: str, where: str) -> set[str]:
    """The names a sample uses without defining or importing them."""
    top = symtable.symtable(source, where, "exec")
    defined = {symbol.get_name() for symbol in top.get_symbols() if symbol.is_assigned()}
    defined |= {symbol.get_name() for symbol in top.get_symbols() if symbol.is_imported()}
    used: set[str] = set()

    def visit(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table is top or symbol.is_global()):
                used.add(symbol.get_name())
        for child in table.get_children():
            visit(child)

    visit(top)
    return used - defined - set(dir(builtins))


@pytest.mark.parametrize("block", [b for b in python_blocks() if b.opt_out], ids=sample_id)
def test_a_sample_that_opts_out_of_running_still_compiles(block: FencedBlock) -> None:
    compile(block.body, block.where, "exec")


@pytest.mark.parametrize("block", [b for b in SNIPPETS if not b.opt_out], ids=sample_id)
def test_a_code_sample_compiles_and_runs_when_it_needs_nothing_else(
    block: FencedBlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = compile(block.body, block.where, "exec")
    if free_names(block.body, block.where):
        return  # a fragment that continues the page's earlier samples: compiling it is all
    monkeypatch.chdir(tmp_path)
    exec(code, {"__name__": "docs_sample"})


def test_opt_outs_are_rare() -> None:
    opted_out = [block.where for block in python_blocks() if block.opt_out]
    assert len(opted_out) <= 3, opted_out


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_the_hooks_page_example_adds_a_gate_rule_and_reads_the_report(
    pytester: pytest.Pytester, plausible_model: Simulator, workers: list[str]
) -> None:
    blocks = [block for block in fenced_blocks(DOCS / "hooks.md") if block.info == "python"]
    conftests = [block.body for block in blocks if block.body.startswith("# conftest.py")]
    suite = next(block.body for block in blocks if block.body.startswith("# test_refunds.py"))
    assert len(conftests) == 2
    pytester.makeconftest("\n".join(conftests))
    result = run_sample(pytester, plausible_model, suite, *workers)
    result.assert_outcomes(passed=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["llmeval gate: BLOCK", "  - group 'refunds' has 2 cases, fewer than 3"]
    )
    history = (pytester.path / "llmeval-history.jsonl").read_text("utf-8").splitlines()
    assert len(history) == 1, "the report hook ran on a worker too"
    line = json.loads(history[0])
    assert line["promote"] is False and line["model"] == FT_MODEL
    assert line["reasons"] == ["group 'refunds' has 2 cases, fewer than 3"]
    assert line["pass_rates"] == {"refunds": 1.0}


def test_the_getting_started_walkthrough_gives_the_report_it_shows(
    pytester: pytest.Pytester,
) -> None:
    page = fenced_blocks(DOCS / "getting-started.md")
    dataset, rules = (block.body for block in page if block.info == "json")
    suite = next(block.body for block in page if block.info == "python")
    evals = pytester.path / "tests" / "evals"
    evals.mkdir(parents=True)
    (evals / "valid.jsonl").write_text(dataset, encoding="utf-8")
    (evals / "test_triage.py").write_text(suite, encoding="utf-8")
    (pytester.path / "rules.json").write_text(rules, encoding="utf-8")
    with Simulator(pytester.path / "rules.json") as server:
        result = pytester.runpytest(
            "tests/evals",
            f"--llm-model={FT_MODEL}",
            f"--llm-server-url={server.url}",
            "--llm-store=.llmeval/simulator-store",
            "-p",
            "no:cacheprovider",
        )
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == 1
    shown = next(block.body for block in page if "llmeval gate: BLOCK" in block.body)
    reasons = [line for line in shown.splitlines() if line.startswith("  - ")]
    result.stdout.fnmatch_lines(["llmeval gate: BLOCK", *reasons])
    result.stdout.fnmatch_lines(["triage *metric *3 *2 *1 *0 *0.67 *[[]0.21, 0.94[]]*"])


def test_a_case_added_as_writing_evals_says_runs_and_shows_up_in_the_report(
    pytester: pytest.Pytester,
) -> None:
    page = fenced_blocks(DOCS / "writing-evals.md")
    suite = next(block.body for block in page if "def test_triage(" in block.body)
    rows = next(block.body for block in page if block.info == "json" and '"T-2"' in block.body)
    added = next(block.body for block in page if block.info == "json" and '"T-6"' in block.body)
    (pytester.path / "tickets.jsonl").write_text(rows + added, encoding="utf-8")
    replies = {case.prompt: case.expected for case in cases(pytester.path / "tickets.jsonl")}

    def expected_reply(request: SimRequest) -> str | None:
        reply = replies.get(request.last_user_message)
        return reply if isinstance(reply, str) or reply is None else json.dumps(reply)

    with Simulator(expected_reply) as server:
        pytester.makepyfile(test_triage=suite)
        result = pytester.runpytest(*run_args(server))
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["triage *metric *3 *3 *0 *0 *1.00 *"])
    reported = json.loads((pytester.path / "report.json").read_text("utf-8"))["cases"]
    new = next(case for case in reported if case["nodeid"] == "test_triage.py::test_triage[T-6]")
    assert (new["group"], new["kind"], new["outcome"], new["category"]) == (
        "triage",
        "metric",
        "passed",
        "valid",
    )
