"""What a session says and checks before its first test: pytest's header lines, and the
paths it must be able to write."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from pytest_llmeval.replay.record_mode import RecordMode
from pytest_llmeval.session.options import HTML, RECORD_MODE, REPORT, REPORT_MD, STORE, Settings


def header_lines(settings: Settings, *, has_key: bool) -> list[str]:
    """pytest's header lines: the model, server and record mode; the store; and what makes
    every model call of this session fail, said once here rather than once a case."""
    server = settings.server_url or "Mistral API"
    if settings.record_mode is RecordMode.NONE:
        server = "none (replay only)"
    lines = [
        f"llmeval: model {settings.model or '(none)'}, server {server},"
        f" record mode {settings.record_mode}",
        f"llmeval: store {settings.store.resolve()}",  # absolute paths are long: a line
    ]
    if settings.ci_ignored:
        lines.append(f"llmeval: warning: {ci_ignored_sentence(settings.ci_ignored)}")
    return lines + [f"llmeval: {condition}" for condition in _session_conditions(settings, has_key)]


def ci_ignored_sentence(ignored: Sequence[str]) -> str:
    """The one warning on settings CI did not use, e.g. `CI is set: ignored llm_record_mode,
    llm_server_url from /repo/pytest.ini; ...`."""
    by_source: dict[str, list[str]] = {}
    for entry in ignored:
        name, _, source = entry.partition(" from ")
        by_source.setdefault(source, []).append(name)
    listed = "; ".join(f"{', '.join(names)} from {source}" for source, names in by_source.items())
    return (
        f"CI is set: ignored {listed}; under CI the record mode and the server come from the"
        " command line or the environment only"
    )


def _session_conditions(settings: Settings, has_key: bool) -> list[str]:
    """What makes every model call of this session fail."""
    if not settings.model:
        return []
    if settings.record_mode is RecordMode.NONE:
        if not settings.store.is_dir():
            return [
                f"the store {settings.store.resolve()} does not exist: with"
                " --llm-record-mode=none every model call fails; record it with"
                " --llm-record-mode=new_episodes or pass --llm-store=DIR"
            ]
    elif not settings.server_url and not has_key:
        return [
            "MISTRAL_API_KEY is not set: every call to Mistral's API fails; export it,"
            " or pass --llm-server-url=URL, or replay with --llm-record-mode=none"
        ]
    return []


def check_writable(settings: Settings, *, controller: bool) -> None:
    """Raises `pytest.UsageError` naming the option whose path cannot be written, before any
    model call: the store in a mode that records (with a model under test), and (on the
    controller) the reports."""
    from pytest_llmeval.support.atomic import folder_problem, write_problem

    problems: list[str] = []
    # Without a model under test nothing is recorded for it: a plain pytest run in a
    # read-only checkout must not fail over a store it will never write.
    if settings.model and settings.record_mode is not RecordMode.NONE:
        problem = folder_problem(settings.store)
        if problem:
            problems.append(
                f"{STORE}={settings.store}: answers could not be recorded ({problem}); make it"
                f" writable, pass another {STORE}=DIR, or replay only with {RECORD_MODE}=none"
            )
    if controller:
        for flag, path in (
            (REPORT, settings.report),
            (REPORT_MD, settings.report_md),
            (HTML, settings.html),
        ):
            problem = write_problem(path) if path is not None else None
            if problem:
                problems.append(f"{flag}={path}: cannot be written ({problem})")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        problem = write_problem(summary, append=True) if summary else None
        if problem:
            problems.append(f"$GITHUB_STEP_SUMMARY={summary}: cannot be appended to ({problem})")
    if problems:
        raise pytest.UsageError("\n".join(problems))
