"""An eval run against its training data: contaminated cases and system-prompt drift."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from pytest_llmeval.data.check_data import DEFAULT_NGRAM_SIZE, DEFAULT_NGRAM_THRESHOLD
from pytest_llmeval.data.finetune_rows import read_jsonl, user_texts
from pytest_llmeval.data.overlap import ContaminationIndex
from pytest_llmeval.support.messages import prompt_text

# Training files repeat a handful of templates; a file whose every row has a system prompt
# of its own (a date in it, say) keeps only the first ones, so memory stays bounded.
MAX_TRAINING_PROMPTS = 256
_DIFF_LINES = 12
_DIFF_LINE_CHARS = 200
#: How alike (difflib ratio) an eval system prompt and the closest training one must be for
#: a difference to be drift; below it the eval prompt belongs to a task training never had.
DRIFT_SIMILARITY = 0.5


class PromptDrift(TypedDict):
    """An eval system prompt that training never used, and the closest one it did."""

    eval: str
    train: str
    diff: str


@dataclass
class TrainingScan:
    """What one streaming pass over a training file found for an eval run."""

    contaminated: list[str] = field(default_factory=list)  # nodeids, in the order given
    system_prompts: Counter[str] = field(default_factory=Counter)  # text -> rows using it
    unreadable_lines: int = 0


def scan_training(
    path: Path,
    eval_prompts: Mapping[str, str],
    *,
    ngram_size: int = DEFAULT_NGRAM_SIZE,
    threshold: float = DEFAULT_NGRAM_THRESHOLD,
) -> TrainingScan:
    """Reads the training file at `path` once, in constant memory.

    `eval_prompts` maps each eval case's nodeid to its last user turn. A case is contaminated
    when that turn, normalized, is a user turn of a training row, or when at least
    `threshold` of its word n-grams occur in one row (the rules of `llmeval check-data`).
    Raises `OSError` when the file cannot be read.
    """
    nodeids = list(eval_prompts)
    index = ContaminationIndex(ngram_size=ngram_size)
    for number, nodeid in enumerate(nodeids, start=1):
        index.add_prompt(number, eval_prompts[nodeid])
    scan = TrainingScan()
    for line in read_jsonl(path):
        row = line.row
        if row is None:
            scan.unreadable_lines += not line.blank
            continue
        index.scan_train_row(line.number, user_texts(row))
        system = system_prompt(row.get("messages"))
        if system and (
            system in scan.system_prompts or len(scan.system_prompts) < MAX_TRAINING_PROMPTS
        ):
            scan.system_prompts[system] += 1
    scan.contaminated = [nodeids[found.eval_line - 1] for found in index.contaminated(threshold)]
    return scan


def system_prompt(messages: Any) -> str:
    """The text of a message list's system messages, joined by new lines ("" for none)."""
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        prompt_text(message.get("content"))
        for message in messages
        if isinstance(message, dict) and message.get("role") == "system"
    )


def last_user_turn(messages: Any) -> str:
    """The text of a message list's last user message ("" for none)."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return prompt_text(message.get("content"))
    return ""


def prompt_drift(eval_prompts: Iterable[str], training: Counter[str]) -> list[PromptDrift]:
    """Each distinct eval system prompt that no training row used, with the closest training
    one and a short line diff, in first-seen order.

    An eval that sends no system prompt where training used one is compared with training's
    most common one; one that sends a prompt where training had none, with "". A prompt
    unlike every training prompt (less than DRIFT_SIMILARITY alike) is another task, one the
    training data never had: no drift to report.
    """
    drifts: list[PromptDrift] = []
    seen: set[str] = set()
    for prompt in eval_prompts:
        if prompt in seen or prompt in training:
            continue
        seen.add(prompt)
        if not prompt and not training:
            continue
        closest = _closest(prompt, training)
        if prompt and closest and _similarity(closest, prompt) < DRIFT_SIMILARITY:
            continue
        drifts.append(PromptDrift(eval=prompt, train=closest, diff=short_diff(closest, prompt)))
    return drifts


def _similarity(one: str, other: str) -> float:
    return difflib.SequenceMatcher(None, one, other, autojunk=False).ratio()


def _closest(prompt: str, training: Counter[str]) -> str:
    if not training:
        return ""
    if not prompt:
        return training.most_common(1)[0][0]

    def similarity(candidate: str) -> float:
        matcher = difflib.SequenceMatcher(None, candidate, prompt, autojunk=False)
        # The cheap upper bound first: most candidates are ruled out without the full match.
        return matcher.ratio() if matcher.real_quick_ratio() > 0 else 0.0

    return max(training, key=lambda candidate: (similarity(candidate), training[candidate]))


def short_diff(train: str, eval_prompt: str) -> str:
    """The lines that differ, `-` for training's and `+` for the eval's, at most a dozen."""
    lines = [
        line[:_DIFF_LINE_CHARS]
        for line in difflib.unified_diff(
            train.splitlines(), eval_prompt.splitlines(), lineterm="", n=0
        )
        if not line.startswith(("---", "+++", "@@"))
    ]
    if len(lines) > _DIFF_LINES:
        more = len(lines) - _DIFF_LINES
        lines = [*lines[:_DIFF_LINES], f"... and {more} more changed lines"]
    return "\n".join(lines)
