"""The experiment ledger: one JSON line per run, appended safely, and the last passing run."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pytest_llmeval.improvement import LAST_PASSED
from pytest_llmeval.report.wording import plural

_GIT_TIMEOUT_S = 5.0
_HASH_CHUNK = 1 << 20


class LedgerError(Exception):
    """The ledger cannot give what was asked; the text names the file and what to do."""


def ledger_entry(
    report: Mapping[str, Any],
    *,
    suite: str,
    git: Mapping[str, Any] | None,
    datasets: Mapping[str, str | None],
    settings: Mapping[str, Any],
    report_path: str | None,
) -> dict[str, Any]:
    """The ledger line of a run, from its JSON report (`report`, as `--llm-report` holds it)."""
    run = report.get("run") or {}
    gate = report.get("gate") or {}
    return {
        "run_id": uuid.uuid4().hex,
        "time": run.get("started"),
        "suite": suite,
        # A subset run (-k, --lf, an early stop, a shard) is never a baseline: see last_passed.
        "complete": bool(run.get("complete", True)),
        "git": dict(git) if git is not None else None,
        "models": run.get("models"),
        "settings": dict(settings),
        "datasets": dict(datasets),
        "groups": {group["name"]: group.get("pass_rate") for group in report.get("groups", [])},
        "format_validity": (report.get("format") or {}).get("validity"),
        "verdict": gate.get("verdict"),
        "report": report_path,
        "tokens": (usage := report.get("usage") or {}).get("total_tokens"),
        "estimated_usd": (usage.get("cost") or {}).get("estimated_usd"),
    }


def suite_of(args: list[str], root: Path) -> str:
    """What names "the same suite" across runs: the test paths the run was given, relative to
    the root folder, sorted (`tests/eval`; `.` for the root itself)."""
    shown = []
    for arg in args:
        path_part, separator, rest = arg.partition("::")
        try:
            relative = Path(path_part).resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            relative = path_part
        shown.append(relative + separator + rest)
    return " ".join(sorted(shown)) or "."


def append_line(path: Path, entry: Mapping[str, Any]) -> None:
    """Appends `entry` as one JSON line to the ledger at `path`, creating it as needed.

    Safe against concurrent runs: the line is written with one `write` on a descriptor
    opened with `O_APPEND` (the kernel puts each write at the end), under an exclusive
    `flock` where the platform has one, so two runs' lines never interleave.
    """
    line = (json.dumps(entry, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with _locked(descriptor):
            view = memoryview(line)
            while view:  # a regular file takes it whole; the loop covers a short write
                written = os.write(descriptor, view)
                view = view[written:]
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _locked(descriptor: int) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: O_APPEND alone
        yield
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


def read_entries(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The ledger's entries with their line numbers, oldest first. A line that is not a JSON
    object (a line cut short by a crash, an edit) is skipped: one bad line must not hide the
    runs around it."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return
    with stream:
        for number, raw in enumerate(stream, start=1):
            try:
                entry = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                continue
            if isinstance(entry, dict):
                yield number, entry


def last_passed(path: Path, suite: str, root: Path, shown: str | None = None) -> Path:
    """The report of the newest passing complete run of `suite` in the ledger whose report
    file still exists (a relative report path is taken from `root`); messages name the ledger
    `shown`. A subset run (`"complete": false`) never is: its pass rates are those of the
    cases it picked. A line from before `complete` existed counts as complete.

    Raises `LedgerError` saying what the ledger holds when there is none.
    """
    runs = passing = subsets = 0
    newest: Path | None = None
    for _, entry in read_entries(path):
        if entry.get("suite") != suite:
            continue
        runs += 1
        if entry.get("verdict") != "promote":
            continue
        if entry.get("complete") is False:
            subsets += 1
            continue
        passing += 1
        report = entry.get("report")
        if isinstance(report, str) and report:
            candidate = root / report
            if candidate.is_file():
                newest = candidate
    if newest is not None:
        return newest
    name = shown or str(path)
    if not path.is_file():
        found = f"the ledger {name} does not exist yet"
    elif not runs:
        found = f"the ledger {name} has no run of this suite ({suite})"
    elif not passing and subsets:
        found = (
            f"the {plural(subsets, 'passing run')} of this suite in {name} "
            f"{'was a subset run' if subsets == 1 else 'were subset runs'} (-k, -m, --lf, --sw,"
            " an early stop or a shard), never a baseline; run the whole suite"
        )
    elif not passing:
        found = f"none of the {runs} runs of this suite in {name} passed the gate"
    else:
        found = f"no passing run of this suite in {name} has its report file any more"
    raise LedgerError(
        f"{LAST_PASSED}: {found}; run the suite with --llm-report=PATH until one passes, "
        "or pass --llm-baseline=PATH to a report"
    )


def file_sha256(path: Path) -> str | None:
    """The hex sha256 of a file's bytes, read in chunks; None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(_HASH_CHUNK), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def git_state(folder: Path) -> dict[str, Any] | None:
    """`{"commit": SHA, "dirty": bool}` of the git work tree `folder` is in, else None.

    Bounded: git gets a few seconds, and a missing git or a folder outside a repository
    is no error, only no state.
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=_GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": bool(status.strip()) if status is not None else None}
