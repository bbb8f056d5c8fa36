"""Model identity: what a model card says about an id (alias, base, deprecation), and warnings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypedDict

#: The option that names each role's model, for the advice in warnings.
ROLE_OPTIONS: dict[str, str] = {
    "model": "--llm-model",
    "judge": "--llm-judge-model",
    "moderation": "--llm-moderation-model",
}
_ROLE_NAMES = {"model": "model under test", "judge": "judge", "moderation": "moderation"}
_MOVING = re.compile(r"-latest$")


class ModelIdentity(TypedDict):
    """One entry of the report's `run.models`: a role's model as its card described it."""

    requested: str
    resolved: str | None  # the dated id an alias pointed to (the id itself when not an alias)
    base: str | None  # the base model of a fine-tune (the card's `root`)
    deprecation: str | None  # ISO date from which the model is deprecated
    replacement: str | None  # the model the card names as its replacement


def identity_of(requested: str, card: Mapping[str, Any] | None) -> ModelIdentity:
    """The identity of `requested` from its card (the JSON of `GET /v1/models/{id}`).

    An alias's card names the dated model it points to in `name`, or lists it among its
    `aliases`; a card's `name` that is not an id (a display name with spaces) is ignored.
    Without a card (None) everything but the requested id is unknown.
    """
    if card is None:
        return ModelIdentity(
            requested=requested, resolved=None, base=None, deprecation=None, replacement=None
        )
    return ModelIdentity(
        requested=requested,
        resolved=_resolved(requested, card),
        base=_text(card.get("root")),
        deprecation=_iso_date(card.get("deprecation")),
        replacement=_text(card.get("deprecation_replacement_model")),
    )


def _resolved(requested: str, card: Mapping[str, Any]) -> str | None:
    name = _text(card.get("name"))
    if name and _is_id(name) and not _MOVING.search(name):
        return name
    aliases = card.get("aliases")
    if _MOVING.search(requested) and isinstance(aliases, list):
        dated = [alias for alias in aliases if isinstance(alias, str) and _is_id(alias)]
        dated = [alias for alias in dated if not _MOVING.search(alias)]
        if dated:
            return sorted(dated)[-1]  # dated ids sort by their date suffix
    card_id = _text(card.get("id"))
    if _MOVING.search(requested):
        return card_id if card_id and not _MOVING.search(card_id) else None
    return card_id or requested


def _is_id(text: str) -> bool:
    return bool(text) and not any(character.isspace() for character in text)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _iso_date(value: object) -> str | None:
    """`2026-06-30T00:00:00Z` (or a date) as `2026-06-30`; None for anything else."""
    if not isinstance(value, str):
        return None
    found = re.match(r"\d{4}-\d{2}-\d{2}", value.strip())
    return found.group(0) if found else None


def identity_warnings(
    models: Mapping[str, ModelIdentity], unreadable: Mapping[str, str] | None = None
) -> list[str]:
    """Sentences for the report's `run.warnings` and the terminal header, role by role:
    a moving `-latest` alias, a deprecated model, a card that could not be read
    (`unreadable`: the reason by role)."""
    warnings: list[str] = []
    for role, identity in models.items():
        requested = identity["requested"]
        who = f"{_ROLE_NAMES.get(role, role)} {requested}"
        option = ROLE_OPTIONS.get(role, "the option")
        reason = (unreadable or {}).get(role)
        if reason is not None:
            warnings.append(
                f"{who}: its model card could not be read ({reason}), so what it "
                "resolves to and whether it is deprecated are unknown"
            )
            continue
        resolved = identity["resolved"]
        if _MOVING.search(requested):
            today = f"today it is {resolved}" if resolved else "the card names no dated id"
            advice = f"; pin {option}={resolved}" if resolved else ""
            warnings.append(
                f"{who} is a moving alias ({today}): results may change when it moves"
                f"{advice} to compare runs"
            )
        if identity["deprecation"] is not None:
            replacement = identity["replacement"]
            move = f"; its replacement is {replacement}" if replacement else ""
            warnings.append(f"{who} is deprecated from {identity['deprecation']}{move}")
    return warnings
