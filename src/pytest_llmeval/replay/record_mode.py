"""`--llm-record-mode`: what the store does with a call that has, or has not, an answer."""

from __future__ import annotations

from enum import Enum


class RecordMode(str, Enum):
    """`--llm-record-mode`: replay only; replay hits and record misses; record everything."""

    NONE = "none"
    NEW_EPISODES = "new_episodes"
    ALL = "all"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)
