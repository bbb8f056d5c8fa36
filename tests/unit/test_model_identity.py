"""Model identity from cards: aliases resolved, base models, deprecation, and the warnings."""

from __future__ import annotations

from mistralai.client import Mistral

from pytest_llmeval.improvement.model_cards import identity_of, identity_warnings
from pytest_llmeval.simulator import Simulator


def test_a_latest_alias_resolves_to_the_dated_id_its_card_names() -> None:
    card = {"id": "mistral-small-latest", "name": "mistral-small-2506", "aliases": []}

    identity = identity_of("mistral-small-latest", card)

    assert identity["resolved"] == "mistral-small-2506"
    assert identity["base"] is None
    (warning,) = identity_warnings({"model": identity})
    assert "moving alias" in warning
    assert "--llm-model=mistral-small-2506" in warning


def test_an_alias_whose_name_is_a_display_name_resolves_through_its_aliases() -> None:
    card = {
        "id": "mistral-large-latest",
        "name": "Mistral Large",
        "aliases": ["mistral-large-2407", "mistral-large-2411"],
    }

    assert identity_of("mistral-large-latest", card)["resolved"] == "mistral-large-2411"


def test_a_fine_tune_names_its_base_and_a_deprecation_is_a_date_with_its_replacement() -> None:
    card = {
        "id": "ft:open-mistral-7b:a:b:c",
        "name": None,
        "root": "open-mistral-7b",
        "deprecation": "2026-03-30T00:00:00Z",
        "deprecation_replacement_model": "ministral-8b-2410",
    }

    identity = identity_of("ft:open-mistral-7b:a:b:c", card)

    assert identity == {
        "requested": "ft:open-mistral-7b:a:b:c",
        "resolved": "ft:open-mistral-7b:a:b:c",
        "base": "open-mistral-7b",
        "deprecation": "2026-03-30",
        "replacement": "ministral-8b-2410",
    }
    assert identity_warnings({"judge": identity}) == [
        "judge ft:open-mistral-7b:a:b:c is deprecated from 2026-03-30;"
        " its replacement is ministral-8b-2410"
    ]


def test_a_dated_id_without_deprecation_gives_no_warning_and_an_unread_card_does() -> None:
    dated = identity_of("mistral-small-2506", {"id": "mistral-small-2506"})
    unknown = identity_of("mistral-small-latest", None)

    assert identity_warnings({"model": dated}) == []
    assert unknown["resolved"] is None
    (warning,) = identity_warnings({"moderation": unknown}, {"moderation": "HTTP 404"})
    assert warning.startswith("moderation mistral-small-latest: its model card could not be read")
    assert "HTTP 404" in warning


def test_simulator_cards_resolve_aliases_and_serve_planted_deprecations() -> None:
    planted = {
        "mistral-small-latest": {
            "name": "mistral-small-2409",
            "deprecation": "2026-06-30T00:00:00Z",
            "deprecation_replacement_model": "mistral-small-2506",
        }
    }
    with Simulator({"models": planted}) as sim:
        client = Mistral(api_key="test", server_url=sim.url)
        large = client.models.retrieve(model_id="mistral-large-latest").model_dump(mode="json")
        dated = client.models.retrieve(model_id="mistral-large-2411").model_dump(mode="json")
        small = client.models.retrieve(model_id="mistral-small-latest").model_dump(mode="json")
        sim.set_model_card("mistral-large-2411", deprecation="2027-01-01")
        later = client.models.retrieve(model_id="mistral-large-2411").model_dump(mode="json")

    assert identity_of("mistral-large-latest", large)["resolved"] == "mistral-large-2411"
    assert dated["aliases"] == ["mistral-large-latest"]
    assert identity_of("mistral-large-2411", dated)["deprecation"] is None
    small_identity = identity_of("mistral-small-latest", small)
    assert small_identity["resolved"] == "mistral-small-2409"
    assert small_identity["deprecation"] == "2026-06-30"
    assert small_identity["replacement"] == "mistral-small-2506"
    assert identity_of("mistral-large-2411", later)["deprecation"] == "2027-01-01"
