"""The word-level diff shown under a flipped case's two outputs."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmeval.report.word_diff import MAX_TOKENS, DiffPart, word_diff, words


def test_a_changed_word_is_deleted_and_inserted_and_the_rest_is_shared() -> None:
    parts = word_diff(
        '{"category": "billing", "urgent": true}', '{"category": "login", "urgent": true}'
    )

    assert parts == [
        DiffPart("same", '{"category": '),
        DiffPart("del", '"billing", '),
        DiffPart("ins", '"login", '),
        DiffPart("same", '"urgent": true}'),
    ]


def test_identical_texts_are_one_shared_part_and_empty_ones_none() -> None:
    assert word_diff("same text", "same text") == [DiffPart("same", "same text")]
    assert word_diff("", "") == []
    assert word_diff("", "new") == [DiffPart("ins", "new")]


def test_texts_too_long_to_align_are_shown_whole_on_each_side() -> None:
    before, after = "a " * (MAX_TOKENS + 1), "b " * 3

    assert word_diff(before, after) == [DiffPart("del", before), DiffPart("ins", after)]


@given(st.text(max_size=200), st.text(max_size=200))
def test_the_parts_give_both_texts_back(before: str, after: str) -> None:
    parts = word_diff(before, after)

    assert "".join(part.text for part in parts if part.kind != "ins") == before
    assert "".join(part.text for part in parts if part.kind != "del") == after
    assert all(part.text for part in parts)
    assert all(first.kind != second.kind for first, second in itertools.pairwise(parts))
    assert "".join(words(before)) == before
