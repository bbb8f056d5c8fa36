"""The plugin's cost per case: 2,000 replayed dataset cases against 2,000 trivial pytest tests.

Run: `.venv/bin/python benchmarks/overhead.py [--cases N] [--repeat R]` (defaults 2000 and 5).

First the store is filled once: one pytest session of N `llm_reply` dataset cases (the same
suite as benchmarks/throughput.py) against the simulator, a process of its own, with
`--llm-record-mode=all`. The simulator is then stopped, and these are timed, alternating,
R times each, every one a whole `python -m pytest` process:

- replay: the N dataset cases with `--llm-record-mode=none` and `--llm-server-url` pointing at
  a closed loopback port, so every reply must come from the store (a miss or a call fails the
  run);
- plain: N trivial tests, `@pytest.mark.parametrize("n", range(N))` / `assert n >= 0`;
- plain, plugin off: the same with `-p no:llmeval`, to show what merely having the plugin
  installed costs an ordinary suite.

The table shows the best wall time, the median and the spread, and the CPU time of the best
run. Target: replay at most 1.5 x the plain run's wall time (best of R).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

from throughput import (
    MODEL,
    Series,
    SimulatorProcess,
    closed_port_url,
    in_work_folder,
    print_verdict,
    pytest_command,
    run_timed,
    use_pycache,
    write_plain_suite,
    write_suite,
)

TARGET_RATIO = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="N, cases and plain tests (2000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (5)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    return in_work_folder("llmeval-overhead-", parser.parse_args(), measure)


def measure(options: argparse.Namespace, work: Path) -> int:
    count = options.cases
    suite = write_suite(work / "suite", count)
    plain = write_plain_suite(work / "plain", count)
    store = work / "store"
    use_pycache(work / "pycache")
    model_args = [f"--llm-model={MODEL}", f"--llm-store={store}"]
    print(f"{count} cases, best of {options.repeat}; work folder {work}", flush=True)

    with SimulatorProcess(0.0) as simulator:
        recording = run_timed(
            pytest_command(
                *model_args,
                f"--llm-server-url={simulator.url}",
                "--llm-concurrency=16",
                "--llm-record-mode=all",
            ),
            suite,
            expect=f"{count} passed",
        )
    recorded = sum(1 for _ in store.rglob("*.json"))
    print(f"  recorded {recorded} responses in {recording.wall_s:.2f} s", flush=True)
    if recorded != count:
        raise RuntimeError(f"expected {count} recordings in {store}, found {recorded}")

    offline = closed_port_url()  # the simulator is gone too: a call could not succeed
    replay_command = pytest_command(
        *model_args, f"--llm-server-url={offline}", "--llm-record-mode=none"
    )
    commands = [
        (replay_command, suite),
        (pytest_command(), plain),
        (pytest_command("-p", "no:llmeval"), plain),
    ]
    for command, folder in commands:  # warm-up, not timed: the bytecode cache of each
        run_timed(command, folder, expect=f"{count} passed")
    replay, plain_on, plain_off = Series(), Series(), Series()
    for attempt in range(options.repeat):
        replay.runs.append(run_timed(replay_command, suite, expect=f"{count} passed"))
        plain_on.runs.append(run_timed(pytest_command(), plain, expect=f"{count} passed"))
        plain_off.runs.append(
            run_timed(pytest_command("-p", "no:llmeval"), plain, expect=f"{count} passed")
        )
        print(
            f"  run {attempt + 1}: replay {replay.runs[-1].wall_s:.2f} s,"
            f" plain {plain_on.runs[-1].wall_s:.2f} s,"
            f" plain without the plugin {plain_off.runs[-1].wall_s:.2f} s",
            flush=True,
        )
    if sum(1 for _ in store.rglob("*.json")) != count:
        raise RuntimeError(f"the replay runs changed the store {store}")

    def row(name: str, series: Series) -> list[str]:
        return [
            name,
            str(count),
            f"{series.best:.2f}",
            f"{series.median:.2f}",
            series.spread,
            f"{series.best_run.cpu_s:.2f}",
            f"{series.best_run.cpu_s / count * 1000:.2f}",
            f"{series.best / plain_on.best:.2f}",
        ]

    print()
    print(
        tabulate(
            [
                row("replay: dataset cases, --llm-record-mode=none, offline", replay),
                row("plain: trivial parametrized tests", plain_on),
                row("plain, plugin disabled (-p no:llmeval)", plain_off),
            ],
            headers=[
                "run",
                "tests",
                "wall s (best)",
                "median",
                "spread",
                "CPU s",
                "CPU ms/test",
                "x plain",
            ],
            disable_numparse=True,
        )
    )
    return print_verdict(
        replay, plain_on, "replay / plain", f"replay at most {TARGET_RATIO} x plain", TARGET_RATIO
    )


if __name__ == "__main__":
    sys.exit(main())
