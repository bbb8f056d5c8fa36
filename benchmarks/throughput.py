"""Throughput of a whole pytest session of `llm_reply` dataset cases against the simulator.

Run: `.venv/bin/python benchmarks/throughput.py [--cases N] [--latency L] [--concurrency C]`
(defaults N=1000, L=0.25 s, C=16; `--cases 200` for a quick run).

Everything measured is a separate process, so interpreter start and imports count the same
for every row, and the simulator (`python -m pytest_llmeval.simulator --latency L`) is one
more process, so its CPU never shares a GIL with the client being measured:

- floor: a bare asyncio loop over the SDK's `chat.complete_async` with a semaphore of C, the
  same N requests, nothing else;
- pytest: `python -m pytest` on a test file `@pytest.mark.parametrize("case", cases(...))` with
  `llm_reply`, `--llm-concurrency=C --llm-record-mode=all` (every case calls the simulator
  and is recorded into a fresh temporary store);
- one at a time: the same session with `--llm-concurrency=1`, on a smaller number of cases
  (N at 250 ms each would take minutes), extrapolated to N by a straight line through two
  sizes (fixed start-up cost + cost per case).

`--memory 1000,10000,20000 [--store DIR]` measures replayed sessions instead: time and peak RSS
of each size against as many trivial tests and the bare SDK loop, in the same session.

Floor and pytest runs alternate, `--repeat` times each (default 3): the table shows the best
wall time, the median and the spread, and the CPU time of the client process (and of the
simulator, from /proc). Target: pytest within 1.15 x the floor's wall time for up to 1,000
cases, within 1.05 x from 1,000 on (start-up spread over more cases leaves less excuse).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

MODEL = "ft:open-mistral-7b:587a6b29:20240514:7e773925"
TARGET_RATIO = 1.15
LARGE_SUITE, LARGE_TARGET_RATIO = 1000, 1.05

# Variables that would change what the measured sessions do (see tests/conftest.py).
_ISOLATED_ENV = (
    "CI",
    "MISTRAL_API_KEY",
    "LLMEVAL_MODEL",
    "MISTRAL_SERVER_URL",
    "GITHUB_STEP_SUMMARY",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
)
# Bytecode (and pytest's assertion-rewritten bytecode) of every measured process goes here,
# outside the repository, so runs after the warm-up start warm as on a developer's machine.
_PYCACHE: list[Path] = []
_NO_BYTECODE: list[bool] = []
# Arguments every measured pytest session gets (--without-hypothesis).
_PYTEST_ARGS: list[str] = []

FLOOR_SCRIPT = '''\
"""The floor: the same requests through the SDK's complete_async, C at a time, nothing else."""
import asyncio
import json
import sys

from mistralai.client import Mistral


async def main(dataset, url, model, concurrency, params):
    with open(dataset, encoding="utf-8") as stream:
        requests = [json.loads(line)["messages"][:-1] for line in stream if line.strip()]
    client = Mistral(api_key="benchmark", server_url=url)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(messages):
        async with semaphore:
            response = await client.chat.complete_async(model=model, messages=messages, **params)
            assert response.choices[0].message.content

    await asyncio.gather(*(one(messages) for messages in requests))


asyncio.run(main(*sys.argv[1:4], int(sys.argv[4]), json.loads(sys.argv[5])))
'''

# Written as users write a suite: a metric group, prompt parameters in a marker with an int
# temperature (the SDK sends it as 0.0), the dataset's expected reply compared.
TEST_FILE = """\
import json

import pytest

from pytest_llmeval import cases


@pytest.mark.llm_metric("triage", threshold=0.0)
@pytest.mark.llm_prompt(temperature=0, max_tokens=200)
@pytest.mark.parametrize("case", cases("cases.jsonl"))
def test_case(case, llm_reply):
    assert llm_reply.text
    assert json.loads(case.expected)["category"]
"""
# What the marker above sends; the floor sends the same.
PROMPT_PARAMS = {"temperature": 0, "max_tokens": 200}

# One case in ten is also graded by the judge, as a judge group does (overhead.py only: the
# floor has no judge to call).
JUDGED_TEST_FILE = """\
import pytest

from pytest_llmeval import cases


@pytest.mark.llm_judge("summary", threshold=0.0)
@pytest.mark.llm_prompt(temperature=0)
@pytest.mark.parametrize("case", cases("judged.jsonl"))
def test_judged(case, llm_reply, llm_judge):
    llm_judge.score(llm_reply.text, question=case.prompt)
"""

PLAIN_TEST_FILE = """\
import pytest


@pytest.mark.parametrize("n", range({count}))
def test_x(n):
    assert n >= 0
"""

_CATEGORIES = ("bug", "billing", "account", "feature_request", "outage")
_SYSTEM = (
    "You triage support tickets. Answer with one JSON object with the keys category"
    " (bug, billing, account, feature_request or outage) and priority (1 to 5)."
)


# -- shared with overhead.py ---------------------------------------------------------------


def write_dataset(path: Path, count: int) -> None:
    """`count` fine-tuning rows (system, user, expected assistant reply), ~400 bytes each."""
    with path.open("w", encoding="utf-8") as stream:
        for index in range(count):
            category = _CATEGORIES[index % len(_CATEGORIES)]
            row = {
                "id": f"ticket-{index:05d}",
                "messages": [
                    {"role": "system", "content": _SYSTEM},
                    {
                        "role": "user",
                        "content": f"Ticket {index}: since this morning the dashboard shows"
                        f" an error when I open invoice #{1000 + index}. Please help.",
                    },
                    {
                        "role": "assistant",
                        "content": json.dumps({"category": category, "priority": index % 5 + 1}),
                    },
                ],
            }
            stream.write(json.dumps(row) + "\n")


def write_suite(folder: Path, count: int, *, judged: int = 0) -> Path:
    """A folder holding `cases.jsonl`, the dataset test file and a pytest.ini of its own;
    with `judged`, also that many judged cases (`judged.jsonl`, JUDGED_TEST_FILE)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_dataset(folder / "cases.jsonl", count)
    (folder / "test_cases.py").write_text(TEST_FILE, encoding="utf-8")
    if judged:
        write_dataset(folder / "judged.jsonl", judged)
        (folder / "test_judged.py").write_text(JUDGED_TEST_FILE, encoding="utf-8")
    # An ini file of its own fixes the rootdir, so no project configuration leaks in.
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return folder


def write_plain_suite(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_plain.py").write_text(PLAIN_TEST_FILE.format(count=count), encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return folder


def no_bytecode_cache() -> None:
    """Measured processes neither read nor write bytecode: every fresh CI job, and machines
    that set PYTHONDONTWRITEBYTECODE.

    pytest's assertion-rewritten bytecode left beside the sources by an earlier session run
    without PYTHONDONTWRITEBYTECODE (`*-pytest-*.pyc`) would still be read, so that the
    figures would be a cached run's: the script refuses to measure until they are gone.
    """
    _PYCACHE[:] = []
    _NO_BYTECODE[:] = [True]
    roots = {Path(sysconfig.get_paths()["purelib"]), Path(__file__).resolve().parents[1] / "src"}
    stale = sorted(path for root in roots for path in root.rglob("__pycache__/*-pytest-*.pyc"))
    if stale:
        folders = sorted({str(path.parent.parent) for path in stale})
        raise SystemExit(
            f"{len(stale)} assertion-rewritten .pyc files of pytest's are cached in "
            f"{', '.join(folders[:3])}{' ...' if len(folders) > 3 else ''}: a run without a "
            "bytecode cache would read them. Delete them first:\n"
            f"  find {' '.join(sorted(map(str, roots)))} -name '*-pytest-*.pyc' -delete"
        )


def bytecode_cache_option(parser: argparse.ArgumentParser) -> None:
    """Adds --no-bytecode-cache and --without-hypothesis, the conditions of a measurement."""
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="measure with PYTHONDONTWRITEBYTECODE=1 and no cache, as a fresh CI job",
    )
    parser.add_argument(
        "--without-hypothesis",
        action="store_true",
        help="pytest sessions run with -p no:hypothesispytest, as without the [hypothesis] extra",
    )


def apply_conditions(options: argparse.Namespace) -> None:
    if options.no_bytecode_cache:
        no_bytecode_cache()
    if options.without_hypothesis:
        _PYTEST_ARGS[:] = ["-p", "no:hypothesispytest"]


def bytecode_mode() -> str:
    mode = "no bytecode cache" if _NO_BYTECODE else "bytecode cached"
    return mode + (", hypothesis's plugin off" if _PYTEST_ARGS else "")


def use_pycache(folder: Path) -> None:
    """Measured processes write and read their bytecode under `folder` (PYTHONPYCACHEPREFIX).

    With PYTHONDONTWRITEBYTECODE set (as in some sandboxes), pytest would rewrite and compile
    every plugin module (pytest_llmeval, hypothesis, xdist, anyio: about 2 s of CPU) in every
    session; a warm cache is what a developer's machine sees, so that is what is measured.
    """
    _PYCACHE[:] = [folder]


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _ISOLATED_ENV}
    if _PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = str(_PYCACHE[0])
    if _NO_BYTECODE:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # installed packages' own .pyc are still read
    return env


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class SimulatorProcess:
    """`python -m pytest_llmeval.simulator` in a process of its own."""

    def __init__(self, latency_s: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest_llmeval.simulator", "--latency", repr(latency_s)],
            stdout=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the simulator did not start (printed {self.url!r})")

    def cpu_s(self) -> float:
        """CPU seconds the simulator has used so far (Linux /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    server_cpu_s: float
    output: str


def run_timed(
    command: Sequence[str],
    cwd: Path,
    *,
    simulator: SimulatorProcess | None = None,
    expect: str | None = None,
) -> Run:
    """Runs `command` to completion; wall time, the child's CPU time (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = simulator.cpu_s() if simulator is not None else 0.0
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = simulator.cpu_s() - server_before if simulator is not None else 0.0
    output = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0 or (expect is not None and expect not in output):
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode} in {cwd}"
            f" (expected {expect!r} in its output):\n{output[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, server_cpu, output)


@dataclass
class Series:
    """Repeated runs of one command."""

    runs: list[Run] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(run.wall_s for run in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(run.wall_s for run in self.runs)

    @property
    def spread(self) -> str:
        walls = [run.wall_s for run in self.runs]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    @property
    def best_run(self) -> Run:
        return min(self.runs, key=lambda run: run.wall_s)


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_PYTEST_ARGS, *args]


# -- this benchmark ------------------------------------------------------------------------


def session_args(url: str, concurrency: int, store: Path) -> list[str]:
    return [
        f"--llm-model={MODEL}",
        f"--llm-server-url={url}",
        f"--llm-concurrency={concurrency}",
        "--llm-record-mode=all",
        f"--llm-store={store}",
    ]


@dataclass
class Measured:
    """One process: wall time and its own peak resident set size."""

    wall_s: float
    peak_mb: float


def run_measured(command: Sequence[str], cwd: Path, expect: str | None = None) -> Measured:
    """Runs `command`; its wall time and peak RSS (os.wait4: this child's own, not the
    highest of every child so far, which RUSAGE_CHILDREN gives)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = process.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0 or (expect is not None and expect not in output):
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{output[-3000:]}")
    return Measured(wall, usage.ru_maxrss / 1024)


def memory(options: argparse.Namespace, work: Path) -> int:
    """`--memory`: replayed sessions of each size, time and peak RSS, against the bare SDK
    loop (live, against the simulator at no latency) and as many trivial tests, all measured
    in this one session. The store is recorded first unless `--store` gives one recorded
    from the same dataset (any size at least the largest)."""
    sizes = [int(size) for size in options.memory.split(",")]
    use_pycache(work / "pycache")
    apply_conditions(options)
    floor_script = work / "floor.py"
    floor_script.write_text(FLOOR_SCRIPT, encoding="utf-8")
    store = Path(options.store) if options.store else work / "store"
    rows = []
    with SimulatorProcess(0.0) as simulator:
        if not options.store:
            suite = write_suite(work / "record", max(sizes))
            print(f"recording {max(sizes)} cases into {store} ...", flush=True)
            run_measured(pytest_command(*session_args(simulator.url, 16, store)), suite)
        for size in sizes:
            suite = write_suite(work / f"suite-{size}", size)
            plain = write_plain_suite(work / f"plain-{size}", size)
            replay_args = [
                f"--llm-model={MODEL}",
                f"--llm-server-url={closed_port_url()}",
                "--llm-record-mode=none",
                f"--llm-store={store}",
                "--llm-ledger=none",
                "--llm-report=report.json",
            ]
            replay = run_measured(pytest_command(*replay_args), suite, f"{size} passed")
            trivial = run_measured(pytest_command(), plain, f"{size} passed")
            floor = None
            if size <= options.memory_floor_limit:
                floor = run_measured(
                    [
                        sys.executable,
                        str(floor_script),
                        str(suite / "cases.jsonl"),
                        simulator.url,
                        MODEL,
                        "16",
                        json.dumps(PROMPT_PARAMS),
                    ],
                    suite,
                )
            rows.append((size, replay, trivial, floor))
            floor_text = f", bare SDK loop {floor.wall_s:.1f} s" if floor else ""
            print(
                f"  {size}: replay {replay.wall_s:.1f} s {replay.peak_mb:.0f} MB, trivial"
                f" {trivial.wall_s:.1f} s {trivial.peak_mb:.0f} MB{floor_text}",
                flush=True,
            )
    headers = ["cases", "replay s", "replay peak MB", "trivial tests s", "trivial peak MB"]
    headers += ["bare SDK loop s (live)", "bare loop peak MB", "replay MB target"]
    table = []
    met = True
    for size, replay, trivial, floor in rows:
        target = 250 if size <= 20000 else 1024
        met = met and (size > 100000 or replay.peak_mb < target)
        table.append(
            [
                str(size),
                f"{replay.wall_s:.1f}",
                f"{replay.peak_mb:.0f}",
                f"{trivial.wall_s:.1f}",
                f"{trivial.peak_mb:.0f}",
                f"{floor.wall_s:.1f}" if floor else "-",
                f"{floor.peak_mb:.0f}" if floor else "-",
                f"< {target}",
            ]
        )
    print()
    print(tabulate(table, headers=headers, disable_numparse=True))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, {bytecode_mode()}")
    print(
        "target: replayed sessions under 250 MB up to 20,000 cases and under 1 GB (1,024 MB)"
        f" up to 100,000: {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="N, dataset cases (1000)")
    parser.add_argument("--latency", type=float, default=0.25, help="L, simulator latency (0.25)")
    parser.add_argument("--concurrency", type=int, default=16, help="C, calls in flight (16)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of floor and pytest (3)")
    parser.add_argument(
        "--sequential-cases",
        type=int,
        default=40,
        help="cases of the one-at-a-time run, extrapolated to N; 0 skips it (40)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument(
        "--memory",
        metavar="SIZES",
        help="instead: peak RSS of replayed sessions of these sizes, e.g. 1000,10000,20000",
    )
    parser.add_argument("--store", help="with --memory: a store recorded from this dataset")
    parser.add_argument(
        "--memory-floor-limit",
        type=int,
        default=10000,
        help="with --memory: run the bare SDK loop up to this many cases (10000)",
    )
    bytecode_cache_option(parser)
    options = parser.parse_args()
    return in_work_folder("llmeval-throughput-", options, memory if options.memory else measure)


def in_work_folder(
    prefix: str,
    options: argparse.Namespace,
    measure: Callable[[argparse.Namespace, Path], int],
) -> int:
    """Runs `measure` in a fresh temporary folder, removed afterwards unless `--keep`."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return measure(options, work)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)


def measure(options: argparse.Namespace, work: Path) -> int:
    count, latency, concurrency = options.cases, options.latency, options.concurrency
    suite = write_suite(work / "suite", count)
    floor_script = work / "floor.py"
    floor_script.write_text(FLOOR_SCRIPT, encoding="utf-8")
    use_pycache(work / "pycache")
    apply_conditions(options)
    print(
        f"{count} cases, simulator latency {latency:g} s, concurrency {concurrency},"
        f" best of {options.repeat}, {bytecode_mode()}; work folder {work}",
        flush=True,
    )

    floor, session = Series(), Series()
    sequential: list[tuple[int, Run]] = []
    with SimulatorProcess(latency) as simulator:
        floor_command = [
            sys.executable,
            str(floor_script),
            str(suite / "cases.jsonl"),
            simulator.url,
            MODEL,
            str(concurrency),
            json.dumps(PROMPT_PARAMS),
        ]
        # Warm-up, not timed: fills the bytecode cache of every module both commands import.
        warm = write_suite(work / "warm-up", 2)
        run_timed([*floor_command[:2], str(warm / "cases.jsonl"), *floor_command[3:]], warm)
        run_timed(
            pytest_command(*session_args(simulator.url, concurrency, work / "store-warm-up")),
            warm,
            expect="2 passed",
        )
        for attempt in range(options.repeat):
            floor.runs.append(run_timed(floor_command, suite, simulator=simulator))
            store = work / f"store-{attempt}"
            session.runs.append(
                run_timed(
                    pytest_command(*session_args(simulator.url, concurrency, store)),
                    suite,
                    simulator=simulator,
                    expect=f"{count} passed",
                )
            )
            print(
                f"  run {attempt + 1}: floor {floor.runs[-1].wall_s:.2f} s,"
                f" pytest {session.runs[-1].wall_s:.2f} s",
                flush=True,
            )
        if options.sequential_cases > 0:
            big = min(options.sequential_cases, count)
            sizes = [big] if big == count or big < 2 else [max(1, big // 8), big]
            for size in sizes:
                small_suite = write_suite(work / f"sequential-{size}", size)
                run = run_timed(
                    pytest_command(*session_args(simulator.url, 1, work / f"store-seq-{size}")),
                    small_suite,
                    simulator=simulator,
                    expect=f"{size} passed",
                )
                sequential.append((size, run))
                print(f"  one at a time, {size} cases: {run.wall_s:.2f} s", flush=True)

    ideal = count / concurrency * latency
    headers = ["run", "cases", "wall s (best)", "median", "spread", "client CPU s"]
    headers += ["CPU ms/case", "sim CPU s", "cases/s", "x floor"]

    def row(
        name: str, cases: int, wall: float, run: Run | None, series: Series | None
    ) -> list[str]:
        cells = [name, str(cases), f"{wall:.2f}", "", "", "", "", ""]
        if series is not None:
            cells[3:5] = [f"{series.median:.2f}", series.spread]
        if run is not None:
            cells[5:7] = [f"{run.cpu_s:.2f}", f"{run.cpu_s / cases * 1000:.1f}"]
            cells[7] = f"{run.server_cpu_s:.2f}"
        ratio = f"{wall / floor.best:.2f}" if cases == count else ""
        return [*cells, f"{cases / wall:.1f}", ratio]

    rows = [
        row("ideal: N / C x L (no overhead at all)", count, ideal, None, None),
        row(
            f"floor: asyncio + SDK complete_async, semaphore {concurrency}",
            count,
            floor.best,
            floor.best_run,
            floor,
        ),
        row(
            f"pytest session, --llm-concurrency={concurrency}",
            count,
            session.best,
            session.best_run,
            session,
        ),
    ]
    if sequential:
        size, run = sequential[-1]
        rows.append(
            row(f"one at a time (--llm-concurrency=1), {size} cases", size, run.wall_s, run, None)
        )
        if len(sequential) == 2:
            (small, small_run), (large, large_run) = sequential
            per_case = (large_run.wall_s - small_run.wall_s) / (large - small)
            fixed = large_run.wall_s - large * per_case
            name = (
                f"one at a time, extrapolated to {count}: {fixed:.2f} s +"
                f" {per_case:.3f} s/case (fit on {small} and {large} cases)"
            )
            rows.append(row(name, count, fixed + count * per_case, None, None))
    print()
    print(tabulate(rows, headers=headers, disable_numparse=True))
    limit = LARGE_TARGET_RATIO if count >= LARGE_SUITE else TARGET_RATIO
    return print_verdict(
        session, floor, "pytest / floor", f"pytest session within {limit} x floor", limit
    )


def print_verdict(measured: Series, base: Series, pair: str, target: str, limit: float) -> int:
    """Prints the ratio run by run and of the best runs; 0 when the target is met, else 1.

    The target is judged on the median of the run-by-run ratios (each run against the
    reference run just before it), which other work on a shared machine moves least.
    """
    pairs = [run.wall_s / other.wall_s for run, other in zip(measured.runs, base.runs, strict=True)]
    shown = ", ".join(f"{value:.2f}" for value in pairs)
    median = statistics.median(pairs)
    print(f"{pair}, run by run: {shown} (median {median:.2f})")
    cpu_pairs = [
        run.cpu_s / other.cpu_s
        for run, other in zip(measured.runs, base.runs, strict=True)
        if other.cpu_s > 0
    ]
    if cpu_pairs:  # CPU time moves less than wall time when other work shares the machine
        cpu_shown = ", ".join(f"{value:.2f}" for value in cpu_pairs)
        print(
            f"{pair}, CPU time run by run: {cpu_shown} (median {statistics.median(cpu_pairs):.2f})"
        )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, {bytecode_mode()}")
    print(
        f"target: {target}: median {median:.3f} x (best against best"
        f" {measured.best / base.best:.3f} x), {'met' if median <= limit else 'NOT met'}"
    )
    return 0 if median <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
