"""What each installed plugin costs a plain pytest session: CPU time with and without each one.

Run: `.venv/bin/python benchmarks/startup.py [--tests N] [--repeat R] [--no-bytecode-cache]`
(defaults 200 tests, 7 rounds).

A folder with N trivial tests (overhead.py's plain suite) is run as a whole `python -m pytest
-q -p no:cacheprovider` process in four ways, interleaved R times: as installed, with
`-p no:llmeval`, with `-p no:hypothesispytest`, and with both. The table shows the median CPU
time (user + system) of each and what each plugin adds; CPU time is used because other work on
a shared machine moves it far less than wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from tabulate import tabulate

from throughput import (
    bytecode_cache_option,
    bytecode_mode,
    in_work_folder,
    no_bytecode_cache,
    pytest_command,
    run_timed,
    use_pycache,
    write_plain_suite,
)

SESSIONS = {
    "plugins as installed": [],
    "-p no:llmeval": ["-p", "no:llmeval"],
    "-p no:hypothesispytest": ["-p", "no:hypothesispytest"],
    "both off": ["-p", "no:llmeval", "-p", "no:hypothesispytest"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200, help="N, trivial tests (200)")
    parser.add_argument("--repeat", type=int, default=7, help="rounds (7)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    bytecode_cache_option(parser)
    return in_work_folder("llmeval-startup-", parser.parse_args(), measure)


def measure(options: argparse.Namespace, work: Path) -> int:
    plain = write_plain_suite(work / "plain", options.tests)
    use_pycache(work / "pycache")
    if options.no_bytecode_cache:
        no_bytecode_cache()
    expect = f"{options.tests} passed"
    print(f"{options.tests} trivial tests, {options.repeat} rounds, {bytecode_mode()}", flush=True)
    for extra in SESSIONS.values():  # warm-up, not timed: the bytecode cache of each
        run_timed(pytest_command(*extra), plain, expect=expect)
    cpu: dict[str, list[float]] = {name: [] for name in SESSIONS}
    for _ in range(options.repeat):
        for name, extra in SESSIONS.items():
            cpu[name].append(run_timed(pytest_command(*extra), plain, expect=expect).cpu_s)
    median = {name: statistics.median(values) for name, values in cpu.items()}
    rows = [
        [name, f"{median[name]:.3f}", f"{min(cpu[name]):.3f}-{max(cpu[name]):.3f}"]
        for name in SESSIONS
    ]
    print()
    print(tabulate(rows, headers=["session", "CPU s (median)", "spread"], disable_numparse=True))
    llmeval = median["plugins as installed"] - median["-p no:llmeval"]
    alone = median["-p no:hypothesispytest"] - median["both off"]
    hypothesis = median["plugins as installed"] - median["-p no:hypothesispytest"]
    print(
        f"llmeval adds {llmeval:.3f} s ({alone:.3f} s with hypothesis's plugin off,"
        f" {alone / median['both off']:.0%} of that session); hypothesis's plugin adds"
        f" {hypothesis:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
