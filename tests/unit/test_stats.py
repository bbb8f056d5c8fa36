"""Wilson intervals and the exact one-sided McNemar test against hand-computed figures."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from pytest_llmeval.report.stats import format_p_value, mcnemar_one_sided, wilson_interval


def binomial_upper_tail(n: int, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), summed exactly as fractions (the shorter side)."""
    if 2 * k > n:
        return float(Fraction(sum(math.comb(n, i) for i in range(k, n + 1)), 2**n))
    return float(1 - Fraction(sum(math.comb(n, i) for i in range(k)), 2**n))


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (50, 100, 0.4038, 0.5962),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 1, 0.2065, 1.0),
        (95, 100, 0.8882, 0.9785),
    ],
)
def test_wilson_interval_matches_published_figures(
    successes: int, n: int, low: float, high: float
) -> None:
    interval = wilson_interval(successes, n)
    assert interval is not None
    assert interval == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_is_none_without_cases() -> None:
    assert wilson_interval(0, 0) is None


def test_wilson_interval_holds_the_observed_rate_and_narrows_with_more_cases() -> None:
    small = wilson_interval(8, 10)
    large = wilson_interval(800, 1000)
    assert small is not None
    assert large is not None
    assert small[0] < 0.8 < small[1]
    assert large[0] < 0.8 < large[1]
    assert large[1] - large[0] < small[1] - small[0]


def test_wilson_interval_is_narrower_for_a_smaller_z() -> None:
    wide = wilson_interval(8, 10, z=2.576)
    narrow = wilson_interval(8, 10, z=1.0)
    assert wide is not None
    assert narrow is not None
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


@pytest.mark.parametrize(("successes", "n"), [(11, 10), (-1, 10), (0, -1)])
def test_wilson_interval_rejects_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(successes, n)


@pytest.mark.parametrize(
    ("worsened", "improved", "expected"),
    [
        (0, 0, 1.0),  # no discordant pair: no evidence at all
        (0, 5, 1.0),
        (3, 0, 1 / 8),
        (10, 0, 1 / 1024),
        (5, 1, 7 / 64),  # (C(6,5) + C(6,6)) / 2^6
        (4, 2, 22 / 64),  # (15 + 6 + 1) / 64
        (1, 5, 63 / 64),
        (6, 6, 2510 / 4096),  # (2^12 + C(12, 6)) / 2 = 2510 of the 4096 outcomes
    ],
)
def test_mcnemar_matches_hand_computed_binomial_tails(
    worsened: int, improved: int, expected: float
) -> None:
    assert mcnemar_one_sided(worsened, improved) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("worsened", "improved"),
    [(800, 700), (760, 740), (700, 800), (1, 1499), (1499, 1), (751, 750), (1000, 1000)],
)
def test_mcnemar_for_many_pairs_agrees_with_the_exact_sum(worsened: int, improved: int) -> None:
    expected = binomial_upper_tail(worsened + improved, worsened)
    assert mcnemar_one_sided(worsened, improved) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_stays_a_probability_for_a_hundred_thousand_pairs() -> None:
    balanced = mcnemar_one_sided(50_000, 50_000)
    lopsided = mcnemar_one_sided(60_000, 40_000)
    better = mcnemar_one_sided(40_000, 60_000)
    assert balanced == pytest.approx(0.5, abs=0.01)
    assert 0.0 <= lopsided < 1e-100
    assert better == pytest.approx(1.0)


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="counts >= 0"):
        mcnemar_one_sided(-1, 3)


@pytest.mark.parametrize(
    ("p_value", "text"),
    [(0.0123, "p=0.012"), (0.5, "p=0.5"), (1.0, "p=1"), (0.0009, "p<0.001"), (0.05, "p=0.05")],
)
def test_format_p_value(p_value: float, text: str) -> None:
    assert format_p_value(p_value) == text
