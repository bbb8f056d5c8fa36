"""The improvement loop's part of a finished run: model identities, training data, hard cases,
and the run's ledger line, each from the case records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pytest_llmeval.case_record import CaseRecord, first_line
from pytest_llmeval.improvement.contamination import (
    last_user_turn,
    prompt_drift,
    scan_training,
    system_prompt,
)
from pytest_llmeval.improvement.failure_rows import Export, failure_rows, jsonl_lines
from pytest_llmeval.improvement.ledger import file_sha256
from pytest_llmeval.improvement.model_cards import ModelIdentity, identity_of, identity_warnings
from pytest_llmeval.report.model import DataSummary


def model_identities(
    records: Iterable[CaseRecord],
    roles: Mapping[str, str | None],
    read_card: Callable[[str], Mapping[str, Any]],
) -> tuple[dict[str, ModelIdentity], list[str]]:
    """`run.models` and `run.warnings`: each role ("model", "judge", "moderation") whose
    model a case called, from its card (`read_card`, once per model id)."""
    called: set[str] = set()
    for record in records:
        # A case whose calls failed as infrastructure said why already; with the endpoint
        # unusable (no key, down), asking it for a card again would only repeat that.
        if not record.get("infrastructure"):
            called.update(record.get("models") or ())
    cards: dict[str, Mapping[str, Any] | None] = {}
    reasons: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    identities: dict[str, ModelIdentity] = {}
    for role, model in roles.items():
        if not model or model not in called:
            continue
        if model not in cards:
            try:
                cards[model] = read_card(model)
            # A card is a courtesy: whatever stops it (API, store, a hostile body) must not
            # cost the run its report, so the reason becomes a warning.
            except Exception as error:
                cards[model] = None
                reasons[model] = first_line(str(error) or type(error).__name__)
        if cards[model] is None:
            unreadable[role] = reasons[model]
        identities[role] = identity_of(model, cards[model])
    return identities, identity_warnings(identities, unreadable)


def training_data(
    path: Path, shown: str, records: Iterable[CaseRecord], max_contaminated: int
) -> DataSummary:
    """The report's `data`: the cases whose prompt occurs in the training file at `path`
    (shown as `shown`), and each eval system prompt that training never used."""
    prompts: dict[str, str] = {}
    systems: list[str] = []
    for record in records:
        request = record.get("request")
        if request is None:
            continue
        prompts.setdefault(record["nodeid"], last_user_turn(request))
        systems.append(system_prompt(request))
    scan = scan_training(path, prompts)
    return DataSummary(
        train_data=shown,
        contaminated=scan.contaminated,
        prompt_drift=[
            {"eval": drift["eval"], "train": drift["train"], "diff": drift["diff"]}
            for drift in prompt_drift(systems, scan.system_prompts)
        ],
        max_contaminated=max_contaminated,
    )


def hard_case_lines(
    records: Iterable[CaseRecord], scrub: Callable[[str], str]
) -> tuple[str, Export]:
    """The `--llm-export-failures` file's text (`scrub` applied), and what went into it."""
    export = failure_rows(records)
    return scrub("".join(jsonl_lines(export.rows))), export


def dataset_hashes(records: Iterable[CaseRecord], folder: Path) -> dict[str, str | None]:
    """The sha256 of each dataset file the cases came from (a relative name from `folder`)."""
    names = dict.fromkeys(record.get("dataset") for record in records)
    return {name: file_sha256(folder / name) for name in names if name}


def shown_server(url: str | None) -> str | None:
    """The server URL as the ledger keeps it: without credentials, query or fragment."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
