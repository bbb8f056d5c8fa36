"""Where and how a session's model calls go: the one value the options build for the endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pytest_llmeval.calls.retry import RetryPolicy
from pytest_llmeval.replay.record_mode import RecordMode


@dataclass(frozen=True)
class EndpointSettings:
    """Where and how model calls go. No defaults here: options.py builds it
    (`endpoint_settings`), the one place for defaults."""

    model: str | None
    server_url: str | None
    api_key: str | None
    judge_model: str
    moderation_model: str
    concurrency: int
    record_mode: RecordMode
    store_dir: Path
    retry: RetryPolicy
    # `llm_store_public_key`: every recording read is checked against it (None: none is).
    store_public_key: str | None
    # LLMEVAL_STORE_SIGNING_KEY: every recording written is signed with it. Never shown.
    store_signing_key: str | None = field(repr=False)

    @property
    def uses_public_api(self) -> bool:
        return not self.server_url
