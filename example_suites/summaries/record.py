"""Re-record this suite's store/ offline, with the bundled simulator.

    python example_suites/summaries/record.py

The simulator plays every model the suite talks to, from the script below:

- the fine-tuned Ministral 8B writes the note the agents approved for most conversations, but
  a vague one for the SSO bug (S-04) and, for the angry customer (S-09), one that calls the
  customer rude: against the house rules;
- the judge (mistral-large-2411) scores notes on the rubric, prefers the better of two notes
  (or calls a tie), except for one pair of equally good notes where it prefers whichever it
  reads first: asked in both orders, that pair is a tie and counts as position bias; it checks
  the house rules rule by rule; and it scores the rated production notes as the support leads
  did, but one (S-03) a point higher.

Then it runs the suite against the simulator with --llm-record-mode=all, recording into store/.
Mistral Large's own notes are not model calls here: they are the production answers kept in
conversations.jsonl (`large_summary`).

To record a real model instead, see README.md: the suite does not change, only the endpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_llmeval import iter_cases
from pytest_llmeval.simulator import SimRequest, SimResponse, Simulator

HERE = Path(__file__).resolve().parent
STORE = HERE / "store"
FINE_TUNED = "ft:ministral-8b-latest:587a6b29:20260305:5d2c8a17"

CONVERSATIONS = list(iter_cases(HERE / "conversations.jsonl"))
RATED = list(iter_cases(HERE / "rated_summaries.jsonl"))

# -- the fine-tuned model -----------------------------------------------------------------------

FT_NOTES = {
    "S-04": "Customer has a login problem; a bug was filed.",
    "S-09": (
        "Rude customer shouting that the VAT report export fails; BUG-7802 raised and the"
        " report sent as a file. Open: the fix."
    ),
}
# conversation text -> the note the fine-tuned model writes
FT_NOTE = {case.prompt: FT_NOTES.get(case.id, case.expected) for case in CONVERSATIONS}
CONVERSATION_ID = {case.prompt: case.id for case in CONVERSATIONS}

# -- the judge: scores ------------------------------------------------------------------------

GOOD = (5, "Says what the customer needs, what was done and what is open, with the details.")
# (conversation id, whose note) -> (score, reasoning); any other note gets GOOD.
SCORES = {
    ("S-04", "ft"): (3, "Right topic, but too vague: no browser, no bug number, no workaround."),
    ("S-06", "ft"): (4, "Complete and accurate; a little long for a handover note."),
    ("S-09", "ft"): (4, "Accurate and complete, but the wording about the customer is loaded."),
    ("S-11", "ft"): (4, "Accurate; the open item could say who sends the confirmation."),
    # Mistral Large's production notes that the support leads rated (rated_summaries.jsonl)
    ("S-01", "large"): (3, "Right topic, but long and it does not say what is still open."),
    ("S-03", "large"): (4, "Accurate, but it leaves out the answer promised by Friday."),
    ("S-06", "large"): (4, "Complete; the follow-up could say what to check."),
    ("S-07", "large"): (2, "Stale: the import was already done, the note says it was offered."),
    ("S-10", "large"): (1, "Repeats the customer's full card number and expiry date."),
}
LARGE_NOTE = {case.meta["large_summary"]: case.id for case in CONVERSATIONS}
FT_NOTE_ID = {note: CONVERSATION_ID[prompt] for prompt, note in FT_NOTE.items()}

# -- the judge: pairwise, the fine-tuned note against Mistral Large's -------------------------

# conversation id -> "ft", "large", "tie", or "first" (prefers whichever note it reads first)
PAIRWISE = {
    "S-01": ("ft", "One note is short and says what is open; the other rambles and leaves it out."),
    "S-02": ("tie", "Both notes say the same, equally well."),
    "S-03": ("ft", "Only one note keeps the answer promised by Friday."),
    "S-04": ("large", "One note names the browser, the bug and the workaround; one is vague."),
    "S-05": ("tie", "Both notes say the same, equally well."),
    "S-06": ("first", "The note shown first is slightly clearer."),
    "S-07": ("ft", "Only one note says the import was done; the other is stale."),
    "S-08": ("tie", "Both notes say the same, equally well."),
    "S-09": ("large", "Both are complete, but one judges the customer as rude."),
    "S-10": ("ft", "One note repeats the full card number; the other does not."),
    "S-11": ("tie", "Both notes say the same, equally well."),
    "S-12": ("ft", "Only one note says the invitations were resent and what is open."),
}

# -- the judge: house rules -------------------------------------------------------------------

RULE_BROKEN = {("S-09", 3): "It calls the customer rude and shouting: a judgement of their tone."}


def material_part(material: str, tag: str) -> str:
    """The output the judge is shown between <tag> tags (a JSON string)."""
    found = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", material, re.S)
    return json.loads(found.group(1)) if found else ""


def whose(note: str) -> tuple[str, str]:
    """(conversation id, "ft" or "large") of a note the judge is shown."""
    if note in FT_NOTE_ID:
        return FT_NOTE_ID[note], "ft"
    return LARGE_NOTE.get(note, "?"), "large"


def judge(request: SimRequest) -> SimResponse:
    schema_name = request.body["response_format"]["json_schema"]["name"]
    material = request.last_user_message
    if schema_name == "preference":
        # Which note is shown first tells the conversation and whose note is A.
        conversation, first_is = whose(material_part(material, "output_a"))
        better, why = PAIRWISE.get(conversation, ("tie", "Both notes are equally good."))
        if better == "tie":
            winner = "tie"
        elif better == "first":
            winner = "A"  # position bias: asked in the other order, it prefers the other note
        else:
            winner = "A" if better == first_is else "B"
        return SimResponse(reply=json.dumps({"reasoning": why, "winner": winner}))
    note = material_part(material, "output")
    conversation, author = whose(note)
    if schema_name == "policy":
        rules = request.body["response_format"]["json_schema"]["schema"]["properties"]["rules"]
        answer = []
        for number in range(1, rules["maxItems"] + 1):
            broken = RULE_BROKEN.get((conversation, number))
            answer.append(
                {"rule": number, "passed": broken is None, "reasoning": broken or "Respected."}
            )
        return SimResponse(reply=json.dumps({"rules": answer}))
    score, why = SCORES.get((conversation, author), GOOD)
    return SimResponse(reply=json.dumps({"reasoning": why, "score": score}))


def respond(request: SimRequest) -> SimResponse | str | None:
    if request.endpoint == "judge":
        return judge(request)
    if request.endpoint == "chat" and request.model == FINE_TUNED:
        # A conversation added to the suite that this script does not know yet.
        return FT_NOTE.get(request.last_user_message, "Customer contacted support. Nothing open.")
    return None


# -- recording --------------------------------------------------------------------------------


def main() -> int:
    shutil.rmtree(STORE, ignore_errors=True)  # recordings no test asks for any more go too
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MISTRAL_API_KEY", "MISTRAL_SERVER_URL", "LLMEVAL_MODEL")
    }
    with Simulator(respond) as simulator:
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(HERE),
            f"--llm-server-url={simulator.url}",
            "--llm-record-mode=all",
            "-q",
            "--tb=no",  # the gate report says enough here
        ]
        print("+", " ".join(command), flush=True)
        status = subprocess.call(command, cwd=HERE, env=env)
    print(f"\nrecorded {sum(1 for _ in STORE.rglob('*.json'))} responses in {STORE}")
    return status


if __name__ == "__main__":
    sys.exit(main())
