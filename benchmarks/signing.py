"""What checking the store's signatures costs a replay: with and without a public key.

Run: `.venv/bin/python benchmarks/signing.py [--cases N] [--repeat R]` (defaults 200 and 7).

The suite is benchmarks/throughput.py's TEST_FILE: N dataset cases replayed from the store.
First the store is filled once against the simulator with `LLMEVAL_STORE_SIGNING_KEY` set,
so every recording is signed. The simulator is then stopped, and these are timed,
alternating, R times each, every one a whole `python -m pytest` process replaying offline
(`--llm-record-mode=none`, a closed loopback port as the server):

- without a public key: nothing is verified (the keyless workflow);
- with `--llm-store-public-key=KEY`: every recording read is verified before use.

Also timed in this process: one signature check (`RecordingVerifier.problem`, the answer's
digest included) over the recorded files, to put the per-case cost beside the session's.
Target, on the median of the run-by-run ratios: the checked replay within 1.05 x the
unchecked one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tabulate import tabulate

from pytest_llmeval.replay.signing import (
    SIGNING_KEY_ENV,
    RecordingVerifier,
    answer_digest,
    generate_key_pair,
)
from throughput import (
    MODEL,
    Series,
    SimulatorProcess,
    apply_conditions,
    bytecode_cache_option,
    bytecode_mode,
    closed_port_url,
    in_work_folder,
    print_verdict,
    pytest_command,
    run_timed,
    use_pycache,
    write_suite,
)

TARGET_RATIO = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="N, dataset cases (200)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each (7)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    bytecode_cache_option(parser)
    return in_work_folder("llmeval-signing-", parser.parse_args(), measure)


def verify_seconds(store: Path, public: str, rounds: int = 20) -> tuple[float, int]:
    """Best seconds per recording of reading nothing but checking each signature."""
    documents = [json.loads(path.read_text("utf-8")) for path in store.rglob("*.json")]
    verifier = RecordingVerifier(public)
    names = [path.name.rsplit("-", 1)[0] for path in store.rglob("*.json")]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for name, document in zip(names, documents, strict=True):
            problem = verifier.problem(
                name,
                document["sample"],
                answer_digest(document["response"]),
                document.get("signature"),
            )
            assert problem is None, problem
        best = min(best, time.perf_counter() - started)
    return best / len(documents), len(documents)


def measure(options: argparse.Namespace, work: Path) -> int:
    count = options.cases
    suite = write_suite(work / "suite", count)
    store = work / "store"
    use_pycache(work / "pycache")
    apply_conditions(options)
    private, public = generate_key_pair()
    model_args = [f"--llm-model={MODEL}", f"--llm-store={store}"]
    print(f"{count} cases, best of {options.repeat}, {bytecode_mode()}; work folder {work}")

    os.environ[SIGNING_KEY_ENV] = private
    try:
        with SimulatorProcess(0.0) as simulator:
            run_timed(
                pytest_command(
                    *model_args, f"--llm-server-url={simulator.url}", "--llm-record-mode=all"
                ),
                suite,
                expect=f"{count} passed",
            )
    finally:
        del os.environ[SIGNING_KEY_ENV]
    per_check, checked = verify_seconds(store, public)

    offline = closed_port_url()
    plain = pytest_command(*model_args, f"--llm-server-url={offline}", "--llm-record-mode=none")
    checked_command = [*plain, f"--llm-store-public-key={public}"]
    for command in (plain, checked_command):  # warm-up, not timed
        run_timed(command, suite, expect=f"{count} passed")
    without, with_key = Series(), Series()
    for attempt in range(options.repeat):
        without.runs.append(run_timed(plain, suite, expect=f"{count} passed"))
        with_key.runs.append(run_timed(checked_command, suite, expect=f"{count} passed"))
        print(
            f"  run {attempt + 1}: without a key {without.runs[-1].wall_s:.2f} s,"
            f" with a key {with_key.runs[-1].wall_s:.2f} s",
            flush=True,
        )

    def row(name: str, series: Series) -> list[str]:
        return [
            name,
            str(count),
            f"{series.best:.3f}",
            f"{series.median:.3f}",
            series.spread,
            f"{series.best_run.cpu_s:.3f}",
            f"{series.best / without.best:.3f}",
        ]

    print()
    print(
        tabulate(
            [
                row("replay, no public key (nothing verified)", without),
                row("replay, --llm-store-public-key (every recording verified)", with_key),
            ],
            headers=["run", "cases", "wall s (best)", "median", "spread", "CPU s", "x no key"],
            disable_numparse=True,
        )
    )
    session = without.best
    print(
        f"one signature check (answer digest + Ed25519 verify): {per_check * 1e6:.1f} µs,"
        f" over {checked} recordings; {count} of them are"
        f" {per_check * count * 1000:.2f} ms, {per_check * count / session:.2%} of the"
        f" unchecked replay's best wall time"
    )
    return print_verdict(
        with_key,
        without,
        "with a key / without",
        f"signature checks within {TARGET_RATIO} x the unchecked replay",
        TARGET_RATIO,
    )


if __name__ == "__main__":
    sys.exit(main())
