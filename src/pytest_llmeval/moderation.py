"""The moderation classifier behind the `llm_moderation` fixture, and its findings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from mistralai.client import Mistral

from .endpoint import Endpoint, Reply
from .records import CaseRecorder


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

    def __repr__(self) -> str:
        # Shown by `assert not result`: what was flagged matters, not nine scores.
        flagged = ", ".join(
            f"{name} {self.category_scores.get(name, 0.0):.2f}" for name in self.flagged_categories
        )
        return f"ModerationResult(flagged: {flagged or 'nothing'})"


class Moderation:
    """`llm_moderation.check(text_or_messages)`: classify text, a reply or a conversation."""

    def __init__(
        self, endpoint: Endpoint, recorder: Callable[[], CaseRecorder | None], model: str
    ) -> None:
        self._endpoint = endpoint
        self._recorder = recorder
        self.model = model

    def check(
        self, text_or_messages: str | Reply | Sequence[Mapping[str, Any]]
    ) -> ModerationResult:
        recorder = self._recorder()
        if isinstance(text_or_messages, (str, Reply)):
            text = str(text_or_messages)
            path = "/v1/moderations"

            async def call(client: Mistral) -> Any:
                return await client.classifiers.moderate_async(model=self.model, inputs=[text])
        else:
            messages = [dict(message) for message in text_or_messages]
            path = "/v1/chat/moderations"

            async def call(client: Mistral) -> Any:
                return await client.classifiers.moderate_chat_async(
                    model=self.model, inputs=cast(Any, [messages])
                )

        response = self._endpoint.submit(
            call, recorder=recorder, endpoint=path, model=self.model
        ).result()
        result = response.results[0] if response.results else None
        finding = ModerationResult(
            categories=dict(result.categories or {}) if result is not None else {},
            category_scores=dict(result.category_scores or {}) if result is not None else {},
        )
        if recorder is not None:
            recorder.add_safety_findings(finding.flagged, finding.flagged_categories)
        return finding
