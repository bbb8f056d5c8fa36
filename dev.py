"""Developer entry point: `python3 dev.py demo` runs the example gate, `python3 dev.py test`
the checks.

Needs only Python 3 and git: it creates `.venv` beside this file and installs the project
into it (again only when pyproject.toml changed).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".llmeval-installed"

DEMO_SUITE = ROOT / "example_suites" / "ticket_triage"


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
    """The main job: the example eval suite, replayed offline, with its gate report."""
    env = {k: v for k, v in os.environ.items() if k != "MISTRAL_API_KEY"}
    return run(PYTHON, "-m", "pytest", DEMO_SUITE, "-p", "no:cacheprovider", *extra, env=env)


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
