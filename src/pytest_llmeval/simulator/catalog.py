"""The simulator's model catalog: base models and the cards of base and fine-tuned ids."""

from __future__ import annotations

import uuid
from typing import Any

#: A fixed creation time for model cards, so cards are identical from run to run.
MODELS_CREATED = 1_700_000_000

_CHAT_CAPABILITIES = {"completion_chat": True, "function_calling": True}
BASE_MODELS: dict[str, tuple[str, int, dict[str, bool]]] = {
    "mistral-small-latest": ("Mistral Small", 131_072, {**_CHAT_CAPABILITIES, "vision": True}),
    "mistral-medium-latest": ("Mistral Medium", 131_072, {**_CHAT_CAPABILITIES, "vision": True}),
    "mistral-large-latest": ("Mistral Large", 131_072, _CHAT_CAPABILITIES),
    "open-mistral-7b": ("Mistral 7B", 32_768, {**_CHAT_CAPABILITIES, "fine_tuning": True}),
    "open-mistral-nemo": ("Mistral Nemo", 131_072, {**_CHAT_CAPABILITIES, "fine_tuning": True}),
    "ministral-8b-latest": ("Ministral 8B", 131_072, _CHAT_CAPABILITIES),
    "mistral-moderation-latest": (
        "Mistral Moderation",
        8_192,
        {"moderation": True, "classification": True},
    ),
}


def base_card(model_id: str) -> dict[str, Any]:
    name, context, capabilities = BASE_MODELS[model_id]
    return {
        "id": model_id,
        "object": "model",
        "created": MODELS_CREATED,
        "owned_by": "mistralai",
        "capabilities": capabilities,
        "name": name,
        "description": f"{name} (simulated)",
        "max_context_length": context,
        "aliases": [],
        "deprecation": None,
        "default_model_temperature": 0.3,
        "type": "base",
    }


def model_card(model_id: str) -> dict[str, Any] | None:
    if model_id in BASE_MODELS:
        return base_card(model_id)
    parts = model_id.split(":")
    if len(parts) < 3 or parts[0] != "ft" or not parts[1]:
        return None
    root = parts[1]
    context = BASE_MODELS[root][1] if root in BASE_MODELS else 32_768
    return {
        "id": model_id,
        "object": "model",
        "created": MODELS_CREATED,
        "owned_by": parts[2] or "simulated",
        "capabilities": {"completion_chat": True, "function_calling": True},
        "name": None,
        "description": None,
        "max_context_length": context,
        "aliases": [],
        "deprecation": None,
        "job": str(uuid.uuid5(uuid.NAMESPACE_URL, f"llmeval-simulator:{model_id}")),
        "root": root,
        "archived": False,
        "type": "fine-tuned",
    }
