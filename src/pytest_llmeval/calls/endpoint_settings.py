"""Where and how a session's model calls go: the one value the options build for the endpoint."""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def uses_public_api(self) -> bool:
        return not self.server_url
