"""Developer entry point: `python3 dev.py demo` runs the example suites, `python3 dev.py test`
the checks.

Needs only Python 3 and git: it creates `.venv` beside this file and installs the project
into it (again only when pyproject.toml changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import venv
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".llmeval-installed"

EXAMPLES = ROOT / "example_suites"
# Each example suite, the question its gate answers, and the verdict its README describes.
DEMO_SUITES = (
    ("ticket_triage", "the fine-tuned triage model over its base model?", "promote"),
    ("summaries", "a small fine-tuned model instead of Mistral Large?", "promote"),
    ("safety_redteam", "the help assistant in front of customers?", "block"),
    ("travel_tools", "the travel assistant's function calling?", "promote"),
)


def run(*command: str | os.PathLike[str], env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(part) for part in command), flush=True)
    return subprocess.call([str(part) for part in command], cwd=ROOT, env=env)


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    steps = (
        (PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"),
        (PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"),
    )
    for step in steps:
        if run(*step) != 0:
            sys.exit(f"dev.py: installing failed: {' '.join(map(str, step))}")
    STAMP.write_text(wanted)


def demo(extra: list[str]) -> int:
    """The main job: every example suite replayed offline, each with its gate report, then
    one verdict a line.

    The suites run at once (each is its own pytest session, with its own pytest.ini) and
    their output is shown one after the other. Exit status 0 when every suite gave the
    verdict its README describes, every call was answered from its store and no case
    errored; 1 when not: the demo no longer shows what it says.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MISTRAL_API_KEY", "LLMEVAL_MODEL")}
    color = ["--color=yes"] if sys.stdout.isatty() else []
    with tempfile.TemporaryDirectory(prefix="llmeval-demo-") as reports:
        runs = []
        for name, _, _ in DEMO_SUITES:
            # From the suite's folder, so that test ids are short and the summary line of
            # each failed case has room for its reason; no tracebacks: the reasons say it.
            command = [
                str(PYTHON),
                "-m",
                "pytest",
                "--tb=no",
                f"--llm-report={Path(reports) / name}.json",
                *color,
                *extra,
            ]
            process = subprocess.Popen(
                command,
                cwd=EXAMPLES / name,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            runs.append((name, process))
        for name, process in runs:
            output, _ = process.communicate()
            # What to type to see this one suite again (the demo adds only a report file).
            print(f"+ cd example_suites/{name} && pytest --tb=no", *extra, flush=True)
            sys.stdout.buffer.write(output)
            print(flush=True)
        verdicts = [_demo_verdict(Path(reports) / f"{name}.json") for name, _, _ in DEMO_SUITES]
    return _print_demo_summary(verdicts)


class DemoVerdict(NamedTuple):
    """What the demo shows of one suite's run: its verdict, the gate's reasons, and the
    failed cases of the groups that blocked (test name, first line of the failure)."""

    verdict: str  # "promote", "block", or "error" when the run itself went wrong
    reasons: list[str]
    blocking_cases: list[tuple[str, str]]


def _demo_verdict(report_path: Path) -> DemoVerdict:
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DemoVerdict("error", ["no report was written: see the suite's output above"], [])
    gate = report["gate"]
    reasons = list(gate["reasons"])
    if report["usage"]["store_misses"] or report["totals"]["errors"]:
        return DemoVerdict(
            "error", [*reasons, "a call was not answered from the suite's store"], []
        )
    blocking = {
        group["name"] for group in report["groups"] if group["verdict"] not in ("pass", "info")
    }
    cases = [
        (case["nodeid"].rsplit("::", 1)[-1], case.get("message") or case["outcome"])
        for case in report["cases"]
        if case["group"] in blocking and case["outcome"] != "passed"
    ]
    return DemoVerdict("promote" if gate["passed"] else "block", reasons, cases)


DEMO_CASES_SHOWN = 3


def _print_demo_summary(verdicts: list[DemoVerdict]) -> int:
    width = min(shutil.get_terminal_size().columns, 100)

    def show(text: str, indent: int) -> None:
        print(
            textwrap.fill(
                text,
                width,
                initial_indent=" " * indent,
                subsequent_indent=" " * (indent + 2),
                break_on_hyphens=False,
            )
        )

    print("llmeval demo: the example suites, replayed offline (no API key, no network)")
    unexpected = []
    for (name, question, documented), run in zip(DEMO_SUITES, verdicts, strict=True):
        print(f"  {run.verdict.upper():<8} {name:<15} {question}")
        for reason in run.reasons:
            show(f"- {reason}", 11)
        if run.blocking_cases:
            print(" " * 11 + "failed cases in those groups:")
            for test, message in run.blocking_cases[:DEMO_CASES_SHOWN]:
                show(f"{test}: {message}", 13)
            if len(run.blocking_cases) > DEMO_CASES_SHOWN:
                print(" " * 13 + f"and {len(run.blocking_cases) - DEMO_CASES_SHOWN} more")
        if run.verdict != documented:
            unexpected.append(
                f"{name} gave {run.verdict.upper()}, its README says {documented.upper()}"
            )
    if unexpected:
        show("The demo is broken: " + "; ".join(unexpected) + ".", 0)
        return 1
    print("Every suite gave the verdict its README describes: exit status 0.")
    print("(Alone, `pytest example_suites/NAME` exits with its gate's verdict: 0 or 1.)")
    return 0


def ensure_chromium() -> None:
    """The browser tests open the HTML report in Debian's headless chromium: installed here
    when it is missing and this runs as root with apt-get (a CI container, this machine);
    elsewhere those tests are skipped, naming how to get it."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        print("dev.py: no chromium (apt-get install chromium): the browser tests are skipped")
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (("apt-get", "update", "-qq"), ("apt-get", "install", "-y", "-qq", "chromium")):
        if run(*step, env=env) != 0:
            print("dev.py: installing chromium failed: the browser tests are skipped")
            return


def test(extra: list[str]) -> int:
    """Lint, types, then the test suite on two processes."""
    checks = (
        (PYTHON, "-m", "ruff", "check", "src", "tests", "benchmarks", "example_suites", "dev.py"),
        (
            PYTHON,
            "-m",
            "ruff",
            "format",
            "--check",
            "src",
            "tests",
            "benchmarks",
            "example_suites",
            "dev.py",
        ),
        (PYTHON, "-m", "mypy"),
    )
    for check in checks:
        if run(*check) != 0:
            return 1
    ensure_chromium()
    return run(PYTHON, "-m", "pytest", "tests", "-n", "2", "-q", *extra)


def main() -> int:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        print("usage: python3 dev.py {demo|test} [pytest arguments...]")
        return 2
    ensure_venv()
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
