"""The price table: which price a model id gets, ini overrides, and the run's estimate."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from pytest_llmeval.report.pricing import (
    Price,
    PriceError,
    estimate,
    parse_price_line,
    shipped_table,
)


def test_the_shipped_table_has_a_checked_date_and_prices_the_default_models() -> None:
    table = shipped_table()
    assert table.checked[:4].isdigit() and table.checked.count("-") == 2
    for model in ("mistral-large-latest", "mistral-moderation-latest", "mistral-small-2506"):
        assert table.price_of(model) is not None, model


def test_a_fine_tune_costs_what_its_base_model_does() -> None:
    table = shipped_table()
    fine_tune = table.price_of("ft:open-mistral-7b:587a6b29:20240514:7e773925")
    assert fine_tune == table.price_of("open-mistral-7b")


def test_the_longest_prefix_wins_and_a_prefix_must_end_at_a_dash() -> None:
    table = shipped_table().with_overrides(["mistral-small-2506 = 1 2"])
    assert table.price_of("mistral-small-2506") == Price(1.0, 2.0)
    assert table.price_of("mistral-small-latest") == shipped_table().price_of("mistral-small")
    assert table.price_of("mistral-smallish") is None
    assert table.price_of("self-hosted-tuned") is None


def test_overrides_extend_the_table_and_name_what_they_changed() -> None:
    table = shipped_table().with_overrides(
        [
            "# our self-hosted fine-tune",
            "",
            "ft:my-base = 0.5 1.5  # per million",
            "my-base = 0.5 1.5",
        ]
    )
    assert table.price_of("ft:my-base:team:20260101:abc") == Price(0.5, 1.5)
    assert table.overridden == ("my-base", "my-base")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("mistral-small 0.1 0.3", "not a price; write MODEL = INPUT OUTPUT*"),
        ("mistral-small = 0.1", "not a price*"),
        ("mistral-small = cheap dear", "*must be numbers*"),
        ("mistral-small = -1 2", "*0 or more*"),
        ("mistral-small = nan 2", "*0 or more*"),
    ],
)
def test_a_bad_price_line_says_what_to_write(line: str, message: str) -> None:
    with pytest.raises(PriceError) as caught:
        parse_price_line(line)
    assert fnmatch(str(caught.value), f"*{message}"), str(caught.value)


def test_the_estimate_adds_models_up_and_lists_the_unpriced() -> None:
    table = shipped_table().with_overrides(["judge-x = 2 6", "tuned = 0.25 0.25"])
    result = estimate(
        table, {"judge-x": (1_000_000, 500_000), "tuned": (2_000, 0), "lab-9": (5, 5)}
    )
    assert result.by_model == {"judge-x": pytest.approx(5.0), "tuned": pytest.approx(0.0005)}
    assert result.total_usd == pytest.approx(5.0005)
    assert result.unpriced == ("lab-9",)
