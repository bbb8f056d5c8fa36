"""The moderation classifier behind the `llm_moderation` fixture, and its findings."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pytest_llmeval.calls.endpoint import Endpoint
from pytest_llmeval.calls.reply import Reply, plain_json, recorded_json
from pytest_llmeval.case_record import CaseRecorder
from pytest_llmeval.replay.keys import StoreRequest
from pytest_llmeval.replay.recording import StoredResponse

if TYPE_CHECKING:
    from mistralai.client import Mistral


@dataclass(frozen=True)
class ModerationResult:
    """What the classifier found, shaped like the API's result.

    `categories` maps each category name to whether it was flagged and `category_scores` to
    its score; the names come from the moderation model and are never a fixed set. The result
    is falsy when nothing was flagged, so `assert not llm_moderation.check(reply)` reads well.
    """

    categories: dict[str, bool] = field(default_factory=dict)
    category_scores: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return any(self.categories.values())

    @property
    def flagged_categories(self) -> list[str]:
        return [name for name, flagged in self.categories.items() if flagged]

    def __bool__(self) -> bool:
        return self.flagged

    def with_thresholds(self, thresholds: Mapping[str, float]) -> ModerationResult:
        """This finding with each category in `thresholds` flagged exactly when its score is
        at or above its threshold; other categories keep the classifier's flag."""
        categories = {
            name: self.category_scores.get(name, 0.0) >= thresholds[name]
            if name in thresholds
            else flagged
            for name, flagged in self.categories.items()
        }
        # A category that has a score but no flag in the answer can still reach its threshold.
        for name, score in self.category_scores.items():
            if name in thresholds and name not in categories:
                categories[name] = score >= thresholds[name]
        return ModerationResult(categories=categories, category_scores=dict(self.category_scores))

    def __repr__(self) -> str:
        # Shown by `assert not result`: what was flagged matters, not nine scores.
        flagged = ", ".join(
            f"{name} {self.category_scores.get(name, 0.0):.2f}" for name in self.flagged_categories
        )
        return f"ModerationResult(flagged: {flagged or 'nothing'})"


class Moderation:
    """`llm_moderation.check(...)` and `.assert_safe(...)`: classify text, a reply or a
    conversation; text goes to the text endpoint, a message list to the chat one."""

    def __init__(
        self, endpoint: Endpoint, recorder: Callable[[], CaseRecorder | None], model: str
    ) -> None:
        self._endpoint = endpoint
        self._recorder = recorder
        self.model = model

    def check(
        self,
        text_or_messages: str | Reply | Sequence[Mapping[str, Any]],
        *,
        thresholds: Mapping[str, float] | None = None,
    ) -> ModerationResult:
        """What the classifier finds in a text, a reply or a conversation (a message list).

        `thresholds` maps a category to the score at or above which it counts as flagged,
        over the API's own flag for that category; categories it does not name keep the
        API's flag. A name the classifier does not report is simply never flagged.
        """
        limits = _checked_thresholds(thresholds)
        recorder = self._recorder()
        inputs: list[Any]
        if isinstance(text_or_messages, (str, Reply)):
            text = str(text_or_messages)
            path, inputs = "/v1/moderations", [text]

            async def call(client: Mistral) -> ModerationResult:
                return _finding(
                    await client.classifiers.moderate_async(model=self.model, inputs=[text])
                )
        else:
            messages = [dict(message) for message in text_or_messages]
            path, inputs = "/v1/chat/moderations", [messages]

            async def call(client: Mistral) -> ModerationResult:
                response = await client.classifiers.moderate_chat_async(
                    model=self.model, inputs=cast(Any, [messages])
                )
                return _finding(response)

        # The body the SDK sends (`input` is its name on the wire), so that a recorded
        # finding is read back without the SDK, as `llm.chat` reads its replies.
        request = (
            StoreRequest("POST", path, body={"model": self.model, "input": inputs})
            if plain_json(inputs)
            else None
        )
        finding = self._endpoint.replayed_or_submitted(
            request, _recorded_finding, call, recorder=recorder, endpoint=path, model=self.model
        ).result()
        if limits:
            finding = finding.with_thresholds(limits)
        if recorder is not None:
            recorder.add_safety_findings(
                finding.flagged, finding.flagged_categories, finding.category_scores
            )
        return finding

    def assert_safe(
        self,
        text_or_messages: str | Reply | Sequence[Mapping[str, Any]],
        *,
        thresholds: Mapping[str, float] | None = None,
    ) -> ModerationResult:
        """`check`, failing the case (`AssertionError`) with each flagged category and score."""
        __tracebackhide__ = True
        finding = self.check(text_or_messages, thresholds=thresholds)
        if finding.flagged:
            flagged = ", ".join(
                f"{name} {finding.category_scores.get(name, 0.0):.2f}"
                for name in finding.flagged_categories
            )
            raise AssertionError(f"moderation ({self.model}) flagged: {flagged}")
        return finding


def _checked_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """The thresholds as floats; a ValueError naming a bad one (the suite's error)."""
    if thresholds is None:
        return {}
    if not isinstance(thresholds, Mapping):
        raise ValueError(
            f"thresholds must map category names to scores, not {type(thresholds).__name__}"
        )
    checked: dict[str, float] = {}
    for name, value in thresholds.items():
        if (
            not isinstance(name, str)
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 <= value <= 1
        ):
            raise ValueError(
                f"thresholds[{name!r}] = {value!r}: give a category name and a score from 0 to 1"
            )
        checked[name] = float(value)
    return checked


def _finding(response: Any) -> ModerationResult:
    """The finding in the SDK's `ModerationResponse`."""
    result = response.results[0] if response.results else None
    return ModerationResult(
        categories=dict(result.categories or {}) if result is not None else {},
        category_scores=dict(result.category_scores or {}) if result is not None else {},
    )


_BODY_KEYS = frozenset({"id", "model", "results"})
_RESULT_KEYS = frozenset({"categories", "category_scores"})


def _recorded_finding(stored: StoredResponse) -> ModerationResult | None:
    """The finding in a recorded moderation answer, or None where the SDK must read it.

    Only the plain shape: a 200 recorded as JSON, string `id` and `model`, and results whose
    categories are booleans and scores numbers. For such a body the SDK's models give the
    same finding; anything else goes through the SDK, which answers it or rejects it.
    """
    body = recorded_json(stored)
    if not isinstance(body, dict) or not body.keys() <= _BODY_KEYS:
        return None
    results = body.get("results")
    if not isinstance(body.get("id"), str) or not isinstance(body.get("model"), str):
        return None
    # One input is sent, so one result comes back; more is unusual enough for the SDK.
    if not isinstance(results, list) or len(results) > 1:
        return None
    if not results:
        return ModerationResult()
    first = results[0]
    if not isinstance(first, dict) or not first.keys() <= _RESULT_KEYS:
        return None
    categories = first.get("categories") or {}
    scores = first.get("category_scores") or {}
    if not isinstance(categories, dict) or not isinstance(scores, dict):
        return None
    if not all(isinstance(value, bool) for value in categories.values()):
        return None
    if not all(type(value) in (int, float) and math.isfinite(value) for value in scores.values()):
        return None
    return ModerationResult(
        categories=dict(categories),
        category_scores={name: float(value) for name, value in scores.items()},
    )
