"""Streamed chat calls: the time to first token measured against the simulator's pacing, and
what a streamed call costs live and replayed next to the same call unstreamed.

Run: `.venv/bin/python benchmarks/streaming.py [--calls N] [--latency L] [--token T]`
(defaults 40, 0.2 s and 0.01 s).

The simulator answers a 160-character reply (40 tokens) after `L` seconds, as Mistral
streams it: an event with the role, then one event per token `T` apart. So the first token
arrives after about L + T, the whole answer after about L + 41 T. N calls are made one at a
time through the plugin's endpoint (the SDK's `chat.stream` / `chat.complete`, the replay
store under it), live and recording, then replayed with the simulator stopped.

Targets: the measured time to first token within 50 ms of L + T for the median call (the
transport sees the token as it arrives, not when the body is whole), and under the whole
answer's latency for every call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from pytest_llmeval.calls.endpoint import Endpoint
from pytest_llmeval.session.options import endpoint_settings
from pytest_llmeval.simulator import Simulator

MODEL = "ft:open-mistral-7b:587a6b29:20240514:7e773925"
REPLY = "Lisbon in March is mild and sunny, and not yet crowded: " * 3
REPLY = REPLY[:160]


def endpoint(url: str, store: Path, mode: str) -> Endpoint:
    return Endpoint(
        endpoint_settings(model=MODEL, server_url=url, record_mode=mode, store_dir=store)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--token", type=float, default=0.01)
    args = parser.parse_args()
    rules = [{"match": "Lisbon", "reply": REPLY, "token_s": args.token}]
    rows = []
    first_tokens: list[float] = []
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        with Simulator(rules, latency_s=args.latency) as simulator:
            for streamed in (True, False):
                live = endpoint(simulator.url, store, "all")
                started = time.perf_counter()
                cpu = time.process_time()
                for index in range(args.calls):
                    messages = [{"role": "user", "content": f"Lisbon, question {index}?"}]
                    reply = live.chat(messages, {"stream": streamed}, recorder=None)
                    if streamed:
                        assert reply.time_to_first_token_s is not None
                        first_tokens.append(reply.time_to_first_token_s)
                        latencies.append(reply.latency_s)
                wall = (time.perf_counter() - started) / args.calls
                rows.append(
                    [
                        "live",
                        "stream" if streamed else "plain",
                        wall * 1000,
                        (time.process_time() - cpu) / args.calls * 1000,
                    ]
                )
                live.close()
        for streamed in (True, False):
            offline = endpoint("http://127.0.0.1:9", store, "none")
            started = time.perf_counter()
            cpu = time.process_time()
            for index in range(args.calls):
                messages = [{"role": "user", "content": f"Lisbon, question {index}?"}]
                offline.chat(messages, {"stream": streamed}, recorder=None)
            wall = (time.perf_counter() - started) / args.calls
            rows.append(
                [
                    "replay",
                    "stream" if streamed else "plain",
                    wall * 1000,
                    (time.process_time() - cpu) / args.calls * 1000,
                ]
            )
            offline.close()
    print(tabulate(rows, headers=["run", "call", "ms per call", "CPU ms per call"], floatfmt=".2f"))
    expected = args.latency + args.token
    median = statistics.median(first_tokens)
    print(
        f"\ntime to first token: median {median * 1000:.1f} ms (expected about"
        f" {expected * 1000:.0f} ms), max {max(first_tokens) * 1000:.1f} ms; whole answer:"
        f" median {statistics.median(latencies) * 1000:.1f} ms"
    )
    met = abs(median - expected) <= 0.05 and all(
        first < whole for first, whole in zip(first_tokens, latencies, strict=True)
    )
    print("target met" if met else "target NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
