"""Command line: `python -m pytest_llmeval.simulator --script FILE` serves until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pytest_llmeval.simulator.server import Simulator

PROG = "python -m pytest_llmeval.simulator"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {text!r}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve a Mistral-compatible API on loopback; prints its URL on the first line.",
    )
    parser.add_argument("--script", metavar="FILE", help="rules: a .json or .jsonl file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument(
        "--latency", type=_seconds, metavar="SECONDS", help="added delay of every model call"
    )
    parser.add_argument("--seed", type=int, help="seed of the random fault rates")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        simulator = Simulator(
            args.script, latency_s=args.latency, seed=args.seed, host=args.host, port=args.port
        )
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        simulator.start()
    except OSError as error:
        print(f"{PROG}: error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(simulator.url, flush=True)
    # A timed wait so the signal handler gets to run promptly on every platform.
    while not stop.wait(0.2):
        pass
    simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
