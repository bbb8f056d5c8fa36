"""How the gate's reasons and the renderers write a figure: counted nouns and rates."""

from __future__ import annotations


def plural(number: int, noun: str) -> str:
    """`number` and `noun`, with an `s` unless it is one: `1 error`, `3 errors`."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def two_decimals(value: float) -> str:
    return f"{value:.2f}"


def rate_text(value: float | None) -> str:
    """A rate with two decimals; `n/a` when there is none."""
    return "n/a" if value is None else f"{value:.2f}"


def distinct_rates(first: float | None, second: float | None) -> tuple[str, str]:
    """Both rates with two decimals, or more when two decimals would print them equal."""
    if first is None or second is None:
        return (rate_text(first), rate_text(second))
    for decimals in range(2, 7):
        left, right = f"{first:.{decimals}f}", f"{second:.{decimals}f}"
        if left != right:
            break
    return (left, right)


def no_model_sentence(skipped: int) -> str:
    """The one line that says eval cases were skipped for want of a model, and what to do."""
    return (
        f"no model under test: {plural(skipped, 'eval case')} skipped; "
        "pass --llm-model=ID or set LLMEVAL_MODEL"
    )
