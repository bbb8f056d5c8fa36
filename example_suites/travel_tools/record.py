"""Re-record this suite's store/ offline, with the bundled simulator.

    python example_suites/travel_tools/record.py

The simulator plays the fine-tuned travel assistant from the rules below. It calls the
expected tool with the expected arguments for seven of the eight tool-call rows, and answers
one ("Is it cold in Oslo at the moment?") in text instead of calling get_weather: the
report's format section counts it as no_tool_call. After a tool's result it answers with the
expected sentence; the weekend question calls two tools in one turn, then answers from both;
the streamed answer comes as server-sent events, a token every 5 ms.

Then it runs the suite against the simulator with --llm-record-mode=all, which records every
request into store/ (the stream's events too), so `pytest example_suites/travel_tools` replays
it offline. To record a real model instead, see README.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_llmeval.simulator import Simulator

HERE = Path(__file__).resolve().parent
STORE = HERE / "store"


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


RULES: list[dict[str, Any]] = [
    # The conversation: two tools in one turn, then the answer from both results.
    {
        "match": "Weekend in Lisbon",
        "after_tool": True,
        "reply": "Tomorrow Lisbon is sunny at 24 C, and your 120 EUR are 129.6 USD.",
    },
    {
        "match": "Weekend in Lisbon",
        "tool_calls": [
            call("get_weather", city="Lisbon", day="tomorrow"),
            call("convert_currency", amount=120, **{"from": "EUR", "to": "USD"}),
        ],
    },
    # Answers from a tool's result (conversations.jsonl).
    {
        "match": "pack for Lisbon",
        "after_tool": True,
        "reply": "Pack light: Lisbon will be sunny and 24 C tomorrow.",
    },
    {"match": "120 euros left", "after_tool": True, "reply": "120 EUR is about 129.60 USD."},
    # Tool calls (tool_calls.jsonl): seven right, one answered in text.
    {
        "match": "weather in Lisbon tomorrow",
        "tool_calls": [call("get_weather", city="Lisbon", day="tomorrow")],
    },
    {
        "match": "umbrella in Bergen",
        "tool_calls": [call("get_weather", city="Bergen", day="today")],
    },
    {"match": "cold in Oslo", "reply": "It is about 2 C in Oslo right now, so wear a coat."},
    {
        "match": "CDG to Lisbon",
        "tool_calls": [call("find_flights", origin="CDG", destination="LIS", date="2027-03-14")],
    },
    {
        "match": "LHR to JFK",
        "tool_calls": [call("find_flights", origin="LHR", destination="JFK", date="2027-05-02")],
    },
    {
        "match": "BER to Rome",
        "tool_calls": [call("find_flights", origin="BER", destination="FCO", date="2027-06-30")],
    },
    {
        "match": "120 euros in US dollars",
        "tool_calls": [call("convert_currency", amount=120, **{"from": "EUR", "to": "USD"})],
    },
    {
        "match": "5000 yen",
        "tool_calls": [call("convert_currency", amount=5000, **{"from": "JPY", "to": "GBP"})],
    },
    # The streamed answer.
    {
        "match": "why visit Lisbon in March",
        "reply": "Lisbon in March is mild and sunny, and not yet crowded.",
        "token_s": 0.005,
    },
]


def main() -> int:
    shutil.rmtree(STORE, ignore_errors=True)  # recordings no test asks for any more go too
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MISTRAL_API_KEY", "MISTRAL_SERVER_URL", "LLMEVAL_MODEL")
    }
    with Simulator(RULES) as simulator:
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(HERE),
            f"--llm-server-url={simulator.url}",
            "--llm-record-mode=all",
            "-q",
            "--tb=no",
        ]
        print("+", " ".join(command), flush=True)
        status = subprocess.call(command, cwd=HERE, env=env)
    print(f"\nrecorded {sum(1 for _ in STORE.rglob('*.json'))} responses in {STORE}")
    return status


if __name__ == "__main__":
    sys.exit(main())
