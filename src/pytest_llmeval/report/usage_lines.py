"""The usage and cost lines of the terminal and Markdown reports, from the report's figures."""

from __future__ import annotations

from collections.abc import Callable

from pytest_llmeval.report.model import Report
from pytest_llmeval.report.wording import plural


def usage_line(report: Report) -> str:
    usage = report.usage
    streamed = f" ({usage.streamed} streamed)" if usage.streamed else ""
    return (
        f"Usage: {plural(usage.calls, 'call')}{streamed}, {plural(usage.total_tokens, 'token')} "
        f"({usage.prompt_tokens} prompt, {usage.completion_tokens} completion), "
        f"{plural(usage.retries, 'retry', 'retries')}, store {plural(usage.store_hits, 'hit')} / "
        f"{plural(usage.store_misses, 'miss', 'misses')}, "
        f"{usage.latency_s:.1f} s in model calls, {report.run.duration_s:.1f} s in all"
    )


def cost_lines(report: Report, text: Callable[[str], str], verbosity: int) -> list[str]:
    """The estimated cost at the shipped list prices, and what it leaves out; with -vv, each
    model's tokens and cost."""
    usage, cost = report.usage, report.usage.cost
    if cost is None or not usage.by_model:
        return []
    line = f"Cost: est. {usd(cost.total_usd)} at list prices of {text(cost.checked)}"
    if usage.store_hits:
        line += f"; the {plural(usage.store_hits, 'replayed call')} cost nothing now"
    if cost.unpriced:
        names = ", ".join(text(model) for model in cost.unpriced)
        line += f"; no price for {names} (add it to llm_prices)"
    lines = [line]
    if verbosity > 1:
        for model, (prompt, completion) in usage.by_model.items():
            price = cost.by_model.get(model)
            priced = "no price" if price is None else f"est. {usd(price)}"
            lines.append(
                f"  {text(model)}: {prompt} prompt + {completion} completion tokens, {priced}"
            )
    return lines


def usd(amount: float) -> str:
    """Dollars: cents from one dollar on, four decimals below (a replayed suite costs little)."""
    return f"${amount:.2f}" if amount >= 1 else f"${amount:.4f}"
