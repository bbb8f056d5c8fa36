"""The plugin's cost per case: replayed dataset cases against as many trivial pytest tests.

Run: `.venv/bin/python benchmarks/overhead.py [--cases N] [--repeat R]` (defaults 2000 and 5).

The suite is written as users write one (benchmarks/throughput.py's TEST_FILE and
JUDGED_TEST_FILE): N dataset cases in a metric group with `@pytest.mark.llm_prompt(
temperature=0, max_tokens=200)`, and N/10 more in a judge group that grade the reply with
`llm_judge.score`. First the store is filled once: one pytest session against the simulator,
a process of its own, with `--llm-record-mode=all`. The simulator is then stopped, and these
are timed, alternating, R times each, every one a whole `python -m pytest` process:

- replay: the N dataset cases with `--llm-record-mode=none` and `--llm-server-url` pointing at
  a closed loopback port, so every reply must come from the store (a miss or a call fails the
  run);
- plain: N trivial tests, `@pytest.mark.parametrize("n", range(N))` / `assert n >= 0`;
- plain, plugin off: the same with `-p no:llmeval`, to show what merely having the plugin
  installed costs an ordinary suite.

The table shows the best wall time, the median and the spread, and the CPU time of the best
run. Targets, on the median of the run-by-run ratios: replay at most 1.5 x the plain run;
the plain run with the plugin installed and unused within 1.05 x the run with
`-p no:llmeval`. `--no-bytecode-cache` measures with PYTHONDONTWRITEBYTECODE=1.
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
    apply_conditions,
    bytecode_cache_option,
    bytecode_mode,
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
# Leaves a note when a session ended with the SDK imported: a replay that went through it.
SDK_PROBE = """\
import sys


def pytest_sessionfinish(session):
    if "mistralai" in sys.modules:
        open("sdk-imported", "w").close()
"""
UNUSED_TARGET_RATIO = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="N, cases and plain tests (2000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (5)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    bytecode_cache_option(parser)
    return in_work_folder("llmeval-overhead-", parser.parse_args(), measure)


def measure(options: argparse.Namespace, work: Path) -> int:
    judged = options.cases // 10
    suite = write_suite(work / "suite", options.cases, judged=judged)
    count = options.cases + judged  # tests in the suite; the plain suite has as many
    calls = options.cases + 2 * judged  # a judged case calls the model and the judge
    plain = write_plain_suite(work / "plain", count)
    (suite / "conftest.py").write_text(SDK_PROBE, encoding="utf-8")
    store = work / "store"
    use_pycache(work / "pycache")
    apply_conditions(options)
    model_args = [f"--llm-model={MODEL}", f"--llm-store={store}"]
    print(
        f"{options.cases} cases + {judged} judged ({count} tests), best of {options.repeat},"
        f" {bytecode_mode()}; work folder {work}",
        flush=True,
    )

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
    # chat calls, plus one model card per model that answered (read for the report's run.models)
    recorded = sum(1 for _ in (store / "v1-chat-completions").rglob("*.json"))
    stored = sorted(store.rglob("*.json"))
    print(
        f"  recorded {recorded} chat responses and {len(stored) - recorded} model cards"
        f" in {recording.wall_s:.2f} s",
        flush=True,
    )
    if recorded != calls:
        raise RuntimeError(f"expected {calls} chat recordings in {store}, found {recorded}")

    offline = closed_port_url()  # the simulator is gone too: a call could not succeed
    replay_command = pytest_command(
        *model_args, f"--llm-server-url={offline}", "--llm-record-mode=none"
    )
    commands = [
        (replay_command, suite),
        (pytest_command(), plain),
        (pytest_command("-p", "no:llmeval"), plain),
    ]
    (suite / "sdk-imported").unlink()  # the recording session imported it, as it must
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
    if sorted(store.rglob("*.json")) != stored:
        raise RuntimeError(f"the replay runs changed the store {store}")
    through_sdk = (suite / "sdk-imported").exists()

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
    print(
        "replay sessions imported the SDK (some replays went through it)"
        if through_sdk
        else "replay sessions never imported the SDK: every reply and verdict was read directly"
    )
    replay_status = print_verdict(
        replay, plain_on, "replay / plain", f"replay at most {TARGET_RATIO} x plain", TARGET_RATIO
    )
    unused_status = print_verdict(
        plain_on,
        plain_off,
        "plain / plain without the plugin",
        f"plugin installed and unused within {UNUSED_TARGET_RATIO} x -p no:llmeval",
        UNUSED_TARGET_RATIO,
    )
    return max(replay_status, unused_status)


if __name__ == "__main__":
    sys.exit(main())
