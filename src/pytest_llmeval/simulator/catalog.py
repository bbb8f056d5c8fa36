"""The simulator's model catalog: base models, their dated ids, and the cards of every id."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
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


#: What each `-latest` alias points to, as Mistral's cards say it in `"name"`.
ALIASES: dict[str, str] = {
    "mistral-small-latest": "mistral-small-2506",
    "mistral-medium-latest": "mistral-medium-2508",
    "mistral-large-latest": "mistral-large-2411",
    "ministral-8b-latest": "ministral-8b-2410",
    "mistral-moderation-latest": "mistral-moderation-2411",
}
_DATED = {dated: alias for alias, dated in ALIASES.items()}
#: Dated models no alias points to (any more), served under their own id with the card of the
#: base model they belong to: `mistral-moderation-2603`, the current moderation model, while
#: `mistral-moderation-latest` still resolves to 2411.
_DATED.update({"mistral-moderation-2603": "mistral-moderation-latest"})
_GLOB = frozenset("*?[")


def base_card(model_id: str) -> dict[str, Any]:
    """The card of a base model, an alias (`"name"`: the dated id it points to) or a dated id."""
    alias = _DATED.get(model_id, model_id)
    title, context, capabilities = BASE_MODELS[alias]
    dated = ALIASES.get(alias)
    if model_id in _DATED and dated != model_id:  # a dated id no alias points to
        alias, dated = model_id, model_id
    return {
        "id": model_id,
        "object": "model",
        "created": MODELS_CREATED,
        "owned_by": "mistralai",
        "capabilities": capabilities,
        "name": dated or model_id,
        "description": f"{title} (simulated)",
        "max_context_length": context,
        "aliases": [name for name in (alias, dated) if name and name != model_id],
        "deprecation": None,
        "deprecation_replacement_model": None,
        "default_model_temperature": 0.3,
        "type": "base",
    }


def model_card(
    model_id: str, planted: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The card of `model_id`, with the fields a script planted for it (`"models"`) over it.

    A planted id that the catalog does not know gets a base card made of the planted fields.
    """
    fields = (planted or {}).get(model_id)
    card = _catalog_card(model_id)
    if fields is None:
        return card
    if card is None:
        card = {**base_card("mistral-small-latest"), "id": model_id, "name": model_id}
        card["aliases"] = []
    return {**card, **fields, "id": model_id}


def _catalog_card(model_id: str) -> dict[str, Any] | None:
    if model_id in BASE_MODELS or model_id in _DATED:
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
        "deprecation_replacement_model": None,
        "job": str(uuid.uuid5(uuid.NAMESPACE_URL, f"llmeval-simulator:{model_id}")),
        "root": root,
        "archived": False,
        "type": "fine-tuned",
    }


def served_ids(planted: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """The ids `GET /v1/models` lists: the base models, their dated ids, planted cards (the
    `ft:` ids the simulator serves are too many to list)."""
    return sorted({*BASE_MODELS, *_DATED, *(planted or {})})


def serves(
    model_id: str,
    planted: Mapping[str, Mapping[str, Any]] | None = None,
    rule_models: Iterable[str | None] = (),
) -> bool:
    """Whether the simulator serves `model_id`: an id of its catalog (any `ft:<base>:...` id
    among them), one a script plants a card for, or one a rule names exactly (`"model":
    "my-model"`, not a glob). Any other id is answered as the platform answers it: 404 on its
    card, 400 `invalid_model` on a chat or moderation call."""
    if model_card(model_id, planted) is not None:
        return True
    return any(name == model_id for name in rule_models if name and not _GLOB & set(name))
