"""The report's statistics: Wilson intervals (of cases, of case means), McNemar, Cohen's kappa."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

# Up to this many discordant pairs the McNemar tail is summed exactly in integers; beyond it a
# log-space series is used, which is accurate to about 1e-12 and takes microseconds.
_EXACT_PAIRS_LIMIT = 1000
# The log-space series stops once a term adds less than this share of the running sum.
_SERIES_TOLERANCE = 1e-17


def finite_number(value: Any) -> float | None:
    """A figure as a float; None for anything that is not a finite number."""
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isfinite(number):
            return number
    return None


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of `successes` out of `n`; None when `n` is 0.

    Unlike the normal approximation it stays inside [0, 1] and is sensible for rates near 0
    or 1 and for small samples, which is where eval groups usually are: 8 of 10 gives about
    (0.490, 0.943), 10 of 10 about (0.722, 1.0).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return None
    return _wilson(successes / n, n, z)


def case_mean_interval(
    fractions: Sequence[float], z: float = 1.96
) -> tuple[float, float, float] | None:
    """`(mean, low, high)`: the mean of per-case pass fractions and its 95% interval, for
    cases each run several times (`--llm-repeat`); None without a case.

    Runs of one case are not independent draws (a case the model gets wrong tends to stay
    wrong), so the sample is the cases, not the runs: this is the Wilson score interval of
    the mean with n = the number of cases. A fraction in [0, 1] with mean m varies at most
    as much as a pass/fail case with rate m does, so the interval is never narrower than
    the clustering warrants; with one run per case it is exactly `wilson_interval`.
    """
    if not fractions:
        return None
    for fraction in fractions:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"case_mean_interval needs fractions in [0, 1], got {fraction}")
    mean = math.fsum(fractions) / len(fractions)
    low, high = _wilson(mean, len(fractions), z)
    return mean, low, high


def _wilson(rate: float, n: int, z: float) -> tuple[float, float]:
    z_squared = z * z
    denominator = 1.0 + z_squared / n
    center = (rate + z_squared / (2 * n)) / denominator
    half_width = z * math.sqrt(rate * (1.0 - rate) / n + z_squared / (4 * n * n)) / denominator
    # Clamp only rounding noise: at 0 of n and n of n the bounds are exactly 0 and 1.
    low = 0.0 if rate == 0.0 else max(0.0, center - half_width)
    high = 1.0 if rate == 1.0 else min(1.0, center + half_width)
    return (low, high)


def mcnemar_one_sided(worsened: int, improved: int) -> float:
    """Exact one-sided McNemar p-value for "the new run is worse than the baseline".

    Only discordant pairs matter: `worsened` cases passed before and fail now, `improved`
    cases failed before and pass now. If the runs were equally good, each discordant pair
    would be a fair coin, so the p-value is P(X >= worsened) for X ~ Binomial(n, 1/2) with
    n = worsened + improved. It is 1.0 when there is no discordant pair.
    """
    if worsened < 0 or improved < 0:
        raise ValueError(f"mcnemar_one_sided needs counts >= 0, got {worsened} and {improved}")
    pairs = worsened + improved
    if pairs == 0 or worsened == 0:
        return 1.0
    if pairs <= _EXACT_PAIRS_LIMIT:
        return _exact_upper_tail(pairs, worsened)
    if 2 * worsened > pairs:
        return _decreasing_upper_tail(pairs, worsened)
    # Below the mode the terms grow, so sum the other side instead: by symmetry of p = 1/2,
    # P(X <= worsened - 1) = P(X >= pairs - worsened + 1), which starts past the mode.
    lower = _decreasing_upper_tail(pairs, pairs - worsened + 1)
    return min(1.0, max(0.0, 1.0 - lower))


def format_p_value(p_value: float) -> str:
    """A p-value the way reports write it: `p=0.012`, `p=0.5`, `p<0.001`."""
    if p_value < 0.001:
        return "p<0.001"
    return f"p={p_value:.2g}"


def _exact_upper_tail(pairs: int, worsened: int) -> float:
    term = math.comb(pairs, worsened)
    total = 0
    for k in range(worsened, pairs + 1):
        total += term
        term = term * (pairs - k) // (k + 1)
    # int / int is correctly rounded in Python, however large both are.
    return total / (1 << pairs)


def _decreasing_upper_tail(pairs: int, start: int) -> float:
    """P(X >= start) for X ~ Binomial(pairs, 1/2), with start above the mode."""
    log_first = (
        math.lgamma(pairs + 1)
        - math.lgamma(start + 1)
        - math.lgamma(pairs - start + 1)
        - pairs * math.log(2.0)
    )
    # Sum the terms relative to the first one, so nothing underflows before the end.
    relative = 1.0
    ratio_sum = 1.0
    for k in range(start, pairs):
        relative *= (pairs - k) / (k + 1)
        ratio_sum += relative
        if relative < ratio_sum * _SERIES_TOLERANCE:
            break
    return min(1.0, math.exp(log_first + math.log(ratio_sum)))


def cohen_kappa(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Cohen's unweighted kappa of two raters' labels, one (first, second) pair per item.

    Agreement beyond what chance would give with each rater's own label frequencies:
    `(p_o - p_e) / (1 - p_e)`. None without pairs, and when chance alone would agree on
    every item (both raters always gave one and the same label), where kappa is undefined.
    """
    if not pairs:
        return None
    count = len(pairs)
    observed = sum(1 for first, second in pairs if first == second) / count
    firsts = Counter(first for first, _ in pairs)
    seconds = Counter(second for _, second in pairs)
    expected = math.fsum(firsts[label] * seconds[label] for label in firsts) / (count * count)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at
    or below it (`share` 0.5 is the median, 0.95 the 95th percentile); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
