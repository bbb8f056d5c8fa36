"""Shared fixtures: a clean environment for every test, the bundled simulator, and the order
in which the suite runs (the fast pure tests first, the pytester runs last)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpcore2  # noqa: F401  # see below
import pytest

from pytest_llmeval.simulator import SimRequest, Simulator

# httpx2 imports httpcore2 on first use and caches its exception classes, while pytester
# removes every module an in-process run imported; importing it here keeps one copy for the
# whole session, so a later inner run's timeouts are still recognised as timeouts.

FT_MODEL = "ft:open-mistral-7b:a1b2c3d4:20240501:e5f6a7b8"
CANARY_KEY = "sk-canary-7f3a9c2e5b1d4086"

_ISOLATED_ENV = (
    "CI",
    "MISTRAL_API_KEY",
    "LLMEVAL_MODEL",
    "MISTRAL_SERVER_URL",
    "GITHUB_STEP_SUMMARY",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # As pytest's own suite does: tests that start inner pytest runs are the slow ones, so
    # they go last and a broken pure module shows its failure within seconds.
    def runs_pytest(item: pytest.Item) -> bool:
        return "pytester" in getattr(item, "fixturenames", ())

    items.sort(key=runs_pytest)  # stable: collection order is kept within each half


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI=true (set by CI itself) would switch the record mode to "none" in every inner run.
    for name in _ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    # Inner runs see a wide terminal, so a test can match a whole line of the report; the
    # tests of the report's width set COLUMNS themselves.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator() as server:
        yield server


def answer_tickets(request: SimRequest) -> str | None:
    """A script callable: "ticket 7" is answered "answer 7"; anything else falls through."""
    found = (
        re.search(r"ticket (\d+)", request.last_user_message)
        if request.endpoint == "chat"
        else None
    )
    return f"answer {found.group(1)}" if found else None


@pytest.fixture
def answering() -> Iterator[Simulator]:
    with Simulator(answer_tickets) as server:
        yield server


def simulator_args(server: Simulator) -> list[str]:
    """Arguments that point an inner pytest run at `server` with a fresh store."""
    return [
        f"--llm-model={FT_MODEL}",
        f"--llm-server-url={server.url}",
        "--llm-store=store",
        "--strict-markers",
        "-p",
        "no:cacheprovider",
    ]


@pytest.fixture
def run_args(simulator: Simulator) -> list[str]:
    return simulator_args(simulator)
