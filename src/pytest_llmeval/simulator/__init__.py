"""A Mistral-compatible HTTP server on loopback, scripted and fault-injecting, for offline tests."""

from __future__ import annotations

from pytest_llmeval.simulator.script import (
    MODERATION_CATEGORIES,
    SimRequest,
    SimResponse,
    count_tokens,
)
from pytest_llmeval.simulator.server import Simulator

__all__ = ["MODERATION_CATEGORIES", "SimRequest", "SimResponse", "Simulator", "count_tokens"]
