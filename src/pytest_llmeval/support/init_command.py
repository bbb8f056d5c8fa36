"""`llmeval init`: the ini block that points a suite at the bundled simulator, written once.

Without it every command of the simulator workflow needs `--llm-server-url` and
`--llm-store`. The block goes into the file pytest already reads (pytest.ini, the
`[tool.pytest.ini_options]` table of pyproject.toml, tox.ini's `[pytest]`, setup.cfg's
`[tool:pytest]`), or a new pytest.ini; keys the file already sets are left as they are.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

DEFAULT_PORT = 8765
DEFAULT_STORE = ".llmeval/simulator-store"
DEFAULT_MODEL = "mistral-small-latest"


class IniFile(NamedTuple):
    """Where the block goes: the file, its section header, and whether values are TOML."""

    path: Path
    section: str
    toml: bool


def ini_file(folder: Path) -> IniFile:
    """The file pytest reads its options from in `folder`, in pytest's own order of
    precedence; a new pytest.ini when there is none."""
    candidates = (
        IniFile(folder / "pytest.ini", "[pytest]", False),
        IniFile(folder / "pyproject.toml", "[tool.pytest.ini_options]", True),
        IniFile(folder / "tox.ini", "[pytest]", False),
        IniFile(folder / "setup.cfg", "[tool:pytest]", False),
    )
    for candidate in candidates:
        if candidate.path.name == "pytest.ini" and candidate.path.is_file():
            return candidate
        if candidate.path.is_file() and _section_index(_lines(candidate.path), candidate.section):
            return candidate
    return candidates[0]


def block_values(model: str, port: int, store: str) -> dict[str, str]:
    return {
        "llm_model": model,
        "llm_server_url": f"http://127.0.0.1:{port}",
        "llm_store": store,
    }


def updated_text(
    text: str, target: IniFile, values: dict[str, str], port: int
) -> tuple[str, list[str]]:
    """`text` with the keys of `values` it does not set yet added to `target`'s section
    (created at the end when missing); returns the new text and the keys added."""
    lines = text.splitlines()
    start = _section_index(lines, target.section)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append(target.section)
        start = len(lines)
    end = start
    while end < len(lines) and not lines[end].lstrip().startswith("["):
        end += 1
    present = {
        match.group(1)
        for line in lines[start:end]
        if (match := re.match(r"\s*([A-Za-z0-9_.-]+)\s*[=:]", line))
    }
    added = [key for key in values if key not in present]
    if not added:
        return text, []
    while end > start and not lines[end - 1].strip():
        end -= 1
    block = [
        "# pytest-llmeval against the bundled simulator (written by `llmeval init`); start it",
        f"# first: python -m pytest_llmeval.simulator --port {port}",
    ]
    block += [f"{key} = {_value(values[key], target.toml)}" for key in added]
    lines[end:end] = block
    return "\n".join(lines) + "\n", added


def _value(value: str, toml: bool) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if toml else value


def _section_index(lines: Sequence[str], section: str) -> int | None:
    """The index of the line after `section`'s header, or None."""
    for index, line in enumerate(lines):
        if line.strip() == section:
            return index + 1
    return None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="ID",
        help=f"model under test the simulator plays (default {DEFAULT_MODEL}; any ft: id works)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the simulator's port (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="DIR",
        help=f"a store for the simulator's answers (default {DEFAULT_STORE}; not for git)",
    )
    parser.add_argument(
        "--dir", default=".", metavar="FOLDER", help="the suite's root folder (default: here)"
    )


def run(args: argparse.Namespace) -> int:
    """Writes the block; prints what it did and the two commands that follow."""
    folder = Path(args.dir)
    if not folder.is_dir():
        print(f"llmeval init: {folder} is not a folder")
        return 2
    target = ini_file(folder)
    old = target.path.read_text(encoding="utf-8") if target.path.is_file() else ""
    values = block_values(args.model, args.port, args.store)
    new, added = updated_text(old, target, values, args.port)
    if not added:
        print(f"llmeval init: {target.path} already sets {', '.join(values)}; nothing written")
    else:
        target.path.write_text(new, encoding="utf-8")
        kept = [key for key in values if key not in added]
        note = f" (kept its own {', '.join(kept)})" if kept else ""
        print(f"llmeval init: added {', '.join(added)} to {target.section} in {target.path}{note}")
    print(f"next: python -m pytest_llmeval.simulator --port {args.port} &  then: pytest")
    print(f"keep {args.store}/ out of git: its answers are the simulator's, not a model's")
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `llmeval init` with the command's subparsers (see `cli.py`)."""
    init = commands.add_parser(
        "init",
        help="write the ini block of the simulator workflow",
        description=(
            "Write llm_model, llm_server_url and llm_store for the bundled simulator into the "
            "file pytest reads (pytest.ini, pyproject.toml, tox.ini or setup.cfg; a new "
            "pytest.ini when there is none). Keys the file sets already are kept."
        ),
    )
    add_arguments(init)
    init.set_defaults(run=run)
