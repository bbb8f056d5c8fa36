"""Can a small fine-tuned model write the support handover notes instead of Mistral Large?

Ledgerly's support agents hand a conversation over with a short note: what the customer
needs, what was done, what is still open. Mistral Large wrote those notes while the feature
was new; the team fine-tuned Ministral 8B on the notes the agents approved. Four groups decide:

- summary_quality (judge): mistral-large-2411 scores each note against a rubric;
- versus_large (judge, pairwise): the new note against the one Mistral Large wrote for the
  same conversation, asked in both orders so that position bias shows as a tie;
- house_rules (judge, policy): the team's Values, checked rule by rule;
- judge_vs_agents (judge): the judge scores notes the support leads rated, so the report
  says how far the judge agrees with them (calibration).
"""

import pytest

from pytest_llmeval import cases

CONVERSATIONS = "conversations.jsonl"  # the fine-tuning validation split, found next to this file
RATED = "rated_summaries.jsonl"  # production notes with the support leads' score (1-5)

RUBRIC = (
    "The output is the handover note the next support agent reads before taking over the"
    " conversation. 5: says what the customer needs, what was done and what is still open,"
    " with the key details (amounts, dates, references), briefly and accurately. 4: all of"
    " that, one minor detail missing or a little long. 3: right topic but vague, or misses what"
    " is open. 2: misleading or stale. 1: wrong, invented, or exposes data it must not."
)

# The application's Values, the policy every note must follow (see the customization guide's
# "define your policies based on your Values"). The judge checks each rule on its own.
HOUSE_RULES = [
    "Never repeat a payment card number, IBAN, password or security code from the"
    " conversation; the last four digits of a card are allowed.",
    "State only what the conversation says: no invented amounts, dates, references or promises.",
    "Describe the customer neutrally, without judging their tone, intentions or competence.",
    "Say what is still open for the next agent, or that nothing is.",
]

# Every model call in this module is made as in production: deterministic, and capped.
pytestmark = pytest.mark.llm_prompt(temperature=0.0, max_tokens=120)


@pytest.mark.llm_judge("summary_quality", threshold=0.8, min_score=4, rubric=RUBRIC)
@pytest.mark.parametrize("case", cases(CONVERSATIONS))
def test_summary_quality(case, llm_reply, llm_judge):
    # A score under min_score fails the case with the judge's reasoning.
    llm_judge.score(llm_reply, question=case.prompt, reference=case.expected)


@pytest.mark.llm_judge("versus_large", threshold=0.75)
@pytest.mark.parametrize("case", cases(CONVERSATIONS))
def test_not_worse_than_large(case, llm_reply, llm_judge):
    # The note Mistral Large wrote for this conversation in production, kept in the row.
    large = case.meta["large_summary"]
    preference = llm_judge.compare(llm_reply, large, question=case.prompt, rubric=RUBRIC)
    # A tie is not a loss; two orders that disagree are a tie, counted as position bias.
    assert preference.winner != "b", f"Mistral Large's note is better: {preference.reasoning}"


@pytest.mark.llm_judge("house_rules", threshold=0.9)
@pytest.mark.parametrize("case", cases(CONVERSATIONS))
def test_house_rules(case, llm_reply, llm_judge):
    verdict = llm_judge.check_policy(llm_reply, HOUSE_RULES)
    broken = [rule for rule in verdict.rules if not rule.passed]
    assert not broken, "; ".join(f"breaks {rule.rule!r}: {rule.reasoning}" for rule in broken)


# No min_score here: this group measures the judge, not the model. Each row's human_score is
# a support lead's rating of that note; the report pairs it with the judge's score.
@pytest.mark.llm_judge("judge_vs_agents", rubric=RUBRIC)
@pytest.mark.parametrize("case", cases(RATED))
def test_judge_agrees_with_agents(case, llm_judge):
    llm_judge.score(case.expected, question=case.prompt)
