"""The `llmeval` command: one parser, and each subcommand registered by the module that runs it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pytest_llmeval.data import check_data
from pytest_llmeval.replay import store_command
from pytest_llmeval.report import diff, merge_command
from pytest_llmeval.support import init_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmeval", description="Tools of pytest-llmeval that run outside pytest."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each module adds its subcommand's parser and sets `run` (and `usage_error`) on it.
    check_data.add_command(commands)
    store_command.add_command(commands)
    diff.add_command(commands)
    merge_command.add_command(commands)
    init_command.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `llmeval` command. Returns the exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status
