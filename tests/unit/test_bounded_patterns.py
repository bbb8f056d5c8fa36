"""Schema patterns under a bound: RE2 gives `re`'s verdicts in linear time, the rest run in a
worker process under a time limit whose overrun is a schema error naming the pattern."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmeval.errors import InvalidSchemaError
from pytest_llmeval.strict_json.linear_patterns import linear_search, translate
from pytest_llmeval.strict_json.pattern_sandbox import PatternSandbox, PatternTimeoutError

CATASTROPHIC = r"^([A-Za-z]+ ?)*$"
SIX_WORDS = "Printer on floor three broken again!"
THIRTY_WORDS = " ".join(["Printer"] * 30) + "!"

# Pieces of patterns where RE2 and re could differ if read as written.
ATOMS = [
    "a", "b", ".", r"\d", r"\D", r"\w", r"\W", r"\s", r"\S", "[a-c]", r"[\d\s]", r"[^\w]",
    "[]a]", r"\.", r"\u00e9", "é", "٣", " ", r"\n", "[.]", r"\{", "{", "x{,2}", "(?:ab|c)",
    "(a|é)", "(?i:A)",
]  # fmt: skip
TEXTS = st.text(alphabet="ab c.\n٣é\u3000_{},xA\u2028", max_size=12)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4)))
    quantifier = draw(st.sampled_from(["", "*", "+", "?", "{1,2}", "*?"]))
    anchors = draw(st.sampled_from([("", ""), ("^", ""), ("", "$"), ("^", "$")]))
    return f"{anchors[0]}(?:{body}){quantifier}{anchors[1]}"


@settings(max_examples=400, deadline=None)
@given(patterns(), TEXTS)
def test_the_linear_engine_gives_the_verdict_of_pythons_re(pattern: str, text: str) -> None:
    search = linear_search(pattern)
    assert search is not None, translate(pattern)
    assert (search(text) is not None) == (re.search(pattern, text) is not None)


@pytest.mark.parametrize("text", [SIX_WORDS, THIRTY_WORDS, "Printer on floor three"])
def test_a_catastrophic_pattern_returns_at_once_with_the_right_verdict(text: str) -> None:
    search = linear_search(CATASTROPHIC)
    assert search is not None
    assert (search(text) is not None) == (not text.endswith("!"))


@pytest.mark.parametrize(
    "pattern",
    [r"(?=a)b", r"(a)\1", r"\bword\b", "a*+", "[[:alpha:]]", r"a\Z", "(?x) a", "(?a)\\d", "$a"],
)
def test_what_re2_would_read_otherwise_is_left_to_the_bounded_engine(pattern: str) -> None:
    assert linear_search(pattern) is None


def test_the_worker_answers_what_re2_cannot_and_times_out_on_backtracking() -> None:
    sandbox = PatternSandbox(time_limit_s=2.0)
    try:
        assert sandbox.search("re", r"(?=a)a", "xa")
        assert not sandbox.search("re", r"(a)\1", "ab")
        assert sandbox.search("regress:u", r"^\p{Letter}+$", "été")
        hostile = r"^(?=\w)([A-Za-z]+ ?)*$"
        with pytest.raises(PatternTimeoutError) as caught:
            sandbox.search("re", hostile, THIRTY_WORDS)
        assert isinstance(caught.value, InvalidSchemaError)
        assert repr(hostile) in str(caught.value)
        assert sandbox.search("re", r"(?=a)a", "xa")  # a new worker took over
    finally:
        sandbox.close()
