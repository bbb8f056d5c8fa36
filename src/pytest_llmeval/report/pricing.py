"""Estimated cost of a run's tokens, from the price table shipped with the plugin."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


class PriceError(ValueError):
    """A line of the `llm_prices` ini key that is not `MODEL = INPUT OUTPUT`."""

    def __init__(self, message: str, line: str) -> None:
        super().__init__(message)
        self.line = line  # the line as written, to find it in the ini file


@dataclass(frozen=True)
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class PriceTable:
    """Prices by model id prefix, and the day they were checked."""

    prices: Mapping[str, Price]
    checked: str
    overridden: tuple[str, ...] = ()

    def price_of(self, model: str) -> Price | None:
        """The price of `model`: a fine-tune (`ft:BASE:...`) costs what its base does, a dated
        id (`mistral-small-2506`) or alias (`mistral-small-latest`) what its family does; the
        longest matching prefix wins, so an ini entry for one dated id beats its family."""
        name = model.split(":")[1] if model.startswith("ft:") and ":" in model[3:] else model
        best = max((key for key in self.prices if _matches(name, key)), key=len, default=None)
        return self.prices[best] if best is not None else None

    def with_overrides(self, lines: Iterable[str]) -> PriceTable:
        """This table extended or overridden by `llm_prices` lines (`MODEL = INPUT OUTPUT`)."""
        prices = dict(self.prices)
        named: list[str] = []
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            model, price = parse_price_line(text)
            prices[model] = price
            named.append(model)
        return PriceTable(prices, self.checked, (*self.overridden, *named))


def _matches(name: str, key: str) -> bool:
    return name == key or name.startswith(key + "-")


def parse_price_line(text: str) -> tuple[str, Price]:
    """`"my-model = 0.2 0.6"` as its model and price; `PriceError` saying what to write."""
    model, sep, numbers = text.partition("=")
    parts = numbers.split()
    if not sep or not model.strip() or len(parts) != 2:
        raise PriceError(
            f"{text!r} is not a price; write MODEL = INPUT OUTPUT in USD per million tokens,"
            " e.g. 'ft:open-mistral-7b = 0.25 0.25'",
            text,
        )
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise PriceError(f"{text!r}: the prices must be numbers, e.g. 0.25 0.25", text) from None
    if any(not math.isfinite(value) or value < 0 for value in values):
        raise PriceError(f"{text!r}: a price is a number of 0 or more", text)
    key = model.strip()
    return key.split(":")[1] if key.startswith("ft:") and ":" in key else key, Price(*values)


def shipped_table() -> PriceTable:
    """The price table that ships with the plugin (`pricing.json`)."""
    document: dict[str, Any] = json.loads(
        resources.files("pytest_llmeval.report")
        .joinpath("pricing.json")
        .read_text(encoding="utf-8")
    )
    prices = {
        model: Price(float(entry["input"]), float(entry["output"]))
        for model, entry in document["models"].items()
    }
    return PriceTable(prices, str(document["checked"]))


@dataclass(frozen=True)
class CostEstimate:
    """A run's estimated cost: in all, by model, and the models no price was found for."""

    total_usd: float
    by_model: dict[str, float] = field(default_factory=dict)
    unpriced: tuple[str, ...] = ()
    checked: str = ""

    def to_dict(self) -> dict[str, Any]:
        """`usage.cost` of the JSON report."""
        return {
            "estimated_usd": self.total_usd,
            "by_model": dict(self.by_model),
            "unpriced": list(self.unpriced),
            "prices_checked": self.checked,
        }


def estimate(table: PriceTable, tokens: Mapping[str, tuple[int, int]]) -> CostEstimate:
    """The cost of `tokens` (model id -> (prompt tokens, completion tokens))."""
    by_model: dict[str, float] = {}
    unpriced: list[str] = []
    for model, (prompt_tokens, completion_tokens) in sorted(tokens.items()):
        price = table.price_of(model)
        if price is None:
            unpriced.append(model)
        else:
            by_model[model] = price.cost(prompt_tokens, completion_tokens)
    return CostEstimate(sum(by_model.values()), by_model, tuple(unpriced), table.checked)


def tokens_by_model(maps: Iterable[Any]) -> dict[str, tuple[int, int]]:
    """Each model's (prompt, completion) tokens summed over the cases' `usage.by_model` maps
    (model -> [prompt, completion]); an entry that is not such a map or pair is skipped."""
    totals: dict[str, list[int]] = {}
    for by_model in maps:
        if not by_model or not isinstance(by_model, Mapping):
            continue
        for model, pair in by_model.items():
            try:
                prompt, completion = (int(count) for count in pair)
            except (TypeError, ValueError):
                continue
            total = totals.setdefault(str(model), [0, 0])
            total[0] += prompt
            total[1] += completion
    return {model: (prompt, completion) for model, (prompt, completion) in sorted(totals.items())}
