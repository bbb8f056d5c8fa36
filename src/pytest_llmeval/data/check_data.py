"""`llmeval check-data`: check fine-tuning files, their duplicates and eval contamination."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pytest_llmeval.data.datasets import IdRegistry, case_from_row
from pytest_llmeval.data.finetune_rows import (
    DEFAULT_MAX_LINE_BYTES,
    JsonlLine,
    Problem,
    check_sample,
    read_jsonl,
    user_texts,
)
from pytest_llmeval.data.overlap import (
    ContaminationIndex,
    DuplicateFinder,
    ScratchSpaceError,
    row_digests,
)
from pytest_llmeval.errors import DatasetError

__all__ = ["Finding", "add_command", "run"]

DEFAULT_NGRAM_SIZE = 8
DEFAULT_NGRAM_THRESHOLD = 0.5


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the data, at a file and line, as a linter reports it.

    `related` is the other end of a pair ("path:line" of the earlier duplicate, or of the
    training row an eval prompt was found in); `overlap` the n-gram share of a near-copy.
    """

    path: str
    line: int
    rule: str
    message: str
    related: str | None = None
    overlap: float | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.overlap is None:
            del data["overlap"]
        return data


@dataclass
class FileSummary:
    """What was read from one file, for the closing line and the JSON output."""

    path: str
    role: str
    lines: int = 0
    valid_rows: int = 0
    invalid_lines: int = 0
    exact_duplicates: int = 0
    normalized_duplicates: int = 0
    contaminated: int | None = None


@dataclass
class CheckSettings:
    ngram_size: int = DEFAULT_NGRAM_SIZE
    ngram_threshold: float = DEFAULT_NGRAM_THRESHOLD
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


@dataclass
class DataCheck:
    """One run of the check over a training file and, optionally, an eval file.

    `findings()` yields as it reads: the training file's rows first (streamed, never held),
    then its duplicates, then the eval file's rows and duplicates, then contamination. The
    eval file is read first, because the contamination index is built from its prompts.
    """

    train: Path
    eval: Path | None = None
    settings: CheckSettings = field(default_factory=CheckSettings)
    summaries: list[FileSummary] = field(default_factory=list)

    def findings(self) -> Iterator[Finding]:
        index = ContaminationIndex(ngram_size=self.settings.ngram_size)
        eval_findings: list[Finding] = []
        eval_summary = None
        if self.eval is not None:
            eval_summary = FileSummary(str(self.eval), "eval", contaminated=0)
            eval_findings = list(self._read(self.eval, eval_summary, index, is_eval=True))
        train_summary = FileSummary(str(self.train), "train")
        self.summaries.append(train_summary)
        yield from self._read(self.train, train_summary, index, is_eval=False)
        if eval_summary is None:
            return
        self.summaries.append(eval_summary)
        yield from eval_findings
        for found in index.contaminated(self.settings.ngram_threshold):
            eval_summary.contaminated = (eval_summary.contaminated or 0) + 1
            where = f"{self.train}:{found.train_line}"
            if found.kind == "exact":
                yield Finding(
                    str(self.eval),
                    found.eval_line,
                    "contamination-exact",
                    f"the eval prompt also occurs in the training data ({where}); "
                    "remove it from one of the files",
                    related=where,
                )
            else:
                yield Finding(
                    str(self.eval),
                    found.eval_line,
                    "contamination-ngram",
                    f"{found.overlap:.0%} of the eval prompt's {self.settings.ngram_size}-word "
                    f"sequences occur in {where} (threshold "
                    f"{self.settings.ngram_threshold:.0%}); remove the near-copy from one "
                    "of the files",
                    related=where,
                    overlap=round(found.overlap, 4),
                )

    def _read(
        self, path: Path, summary: FileSummary, index: ContaminationIndex, *, is_eval: bool
    ) -> Iterator[Finding]:
        name = str(path)
        ids = IdRegistry(name) if is_eval else None
        with DuplicateFinder() as duplicates:
            for line in read_jsonl(path, max_line_bytes=self.settings.max_line_bytes):
                summary.lines += 1
                row = line.row
                if row is None:
                    assert line.problem is not None
                    summary.invalid_lines += 1
                    yield _finding(name, line.number, line.problem)
                    continue
                problems = (
                    check_sample(row) if ids is None else _eval_problems(row, name, line, ids)
                )
                if problems:
                    summary.invalid_lines += 1
                    for problem in problems:
                        yield _finding(name, line.number, problem)
                else:
                    summary.valid_rows += 1
                duplicates.add(line.number, *row_digests(line.raw, row))
                if is_eval:
                    if not problems:
                        index.add_prompt(line.number, _eval_prompt(row))
                else:
                    index.scan_train_row(line.number, user_texts(row))
            if summary.lines == 0:
                yield Finding(
                    name, 1, "empty-file", "the file holds no rows; give one JSON object a line"
                )
            for duplicate in duplicates.duplicates():
                where = f"{name}:{duplicate.first}"
                if duplicate.kind == "exact":
                    message = f"duplicate of line {duplicate.first} (the same row)"
                else:
                    message = (
                        f"duplicate of line {duplicate.first} once case, white space and "
                        "punctuation are ignored"
                    )
                yield Finding(
                    name,
                    duplicate.line,
                    f"duplicate-{duplicate.kind}",
                    f"{message}; keep one of them",
                    related=where,
                )
            summary.exact_duplicates = duplicates.exact
            summary.normalized_duplicates = duplicates.normalized


def _finding(name: str, line: int, problem: Problem) -> Finding:
    return Finding(name, line, problem.rule, problem.message)


def _eval_problems(
    row: dict[str, Any], name: str, line: JsonlLine, ids: IdRegistry
) -> list[Problem]:
    """An eval row is a fine-tuning sample, or an `input` row, as `cases()` reads them."""
    problems = check_sample(row) if "messages" in row or "input" not in row else []
    if problems:
        return problems
    where = f"{name}:{line.number}"
    try:
        case, explicit = case_from_row(row, where, line.number)
        ids.claim(case.id, line.number, explicit=explicit)
    except DatasetError as error:
        # Its message starts with "<where>: ", which the finding puts in front anyway.
        return [Problem("eval-row", str(error).removeprefix(f"{where}: "))]
    return []


def _eval_prompt(row: dict[str, Any]) -> str:
    if "messages" not in row and isinstance(row.get("input"), str):
        return str(row["input"])
    turns = user_texts(row)
    return turns[-1] if turns else ""


class _TextOutput:
    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err

    def finding(self, finding: Finding) -> None:
        # A hostile row can put a lone surrogate in a quoted value, and a file name may not
        # be UTF-8: escape what the terminal's encoding cannot show rather than fail.
        encoding = getattr(self.out, "encoding", None) or "utf-8"
        text = str(finding).encode(encoding, "backslashreplace").decode(encoding)
        self.out.write(text + "\n")

    def finish(self, summaries: list[FileSummary], count: int) -> None:
        parts = [_summary_text(summary) for summary in summaries]
        verdict = "clean" if count == 0 else f"{count:,} finding{'s' * (count != 1)}"
        print(f"{'; '.join(parts)}: {verdict}", file=self.err)


def _summary_text(summary: FileSummary) -> str:
    text = (
        f"{summary.path}: {summary.lines:,} lines, {summary.invalid_lines:,} invalid, "
        f"{summary.exact_duplicates:,} exact and {summary.normalized_duplicates:,} "
        "normalized duplicates"
    )
    if summary.contaminated is not None:
        text += f", {summary.contaminated:,} contaminated"
    return text


class _JsonOutput:
    """Writes the JSON document as findings come, so that none is kept in memory."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        out.write('{"findings": [')

    def finding(self, finding: Finding) -> None:
        self.out.write(("," if self.count else "") + "\n  " + json.dumps(finding.to_dict()))
        self.count += 1

    def finish(self, summaries: list[FileSummary], count: int) -> None:
        files = json.dumps([asdict(summary) for summary in summaries])
        self.out.write(f'{chr(10) if count else ""}],\n "files": {files},\n')
        self.out.write(f' "clean": {json.dumps(count == 0)}}}\n')


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; give a share such as 0.5"
        ) from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 (excluded) and 1")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is less than 1")
    return value


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `llmeval check-data` with the command's subparsers (see `cli.py`)."""
    check = commands.add_parser(
        "check-data",
        help="check Mistral fine-tuning JSONL files",
        description=(
            "Check a Mistral fine-tuning JSONL file: every row against the format, exact and "
            "normalized duplicates, and (with --eval) eval prompts that also occur in the "
            "training data. Prints one finding a line as path:line: message; exits 0 when the "
            "data is clean, 1 when not, 2 on a usage error."
        ),
    )
    check.add_argument("train", metavar="TRAIN.jsonl", type=Path, help="the training file")
    check.add_argument(
        "--eval", metavar="EVAL.jsonl", type=Path, help="an eval file to check for contamination"
    )
    check.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one path:line: message a line; json: one document (default text)",
    )
    check.add_argument(
        "--ngram-size",
        type=_positive,
        default=DEFAULT_NGRAM_SIZE,
        metavar="N",
        help=f"words per n-gram in the overlap check (default {DEFAULT_NGRAM_SIZE})",
    )
    check.add_argument(
        "--ngram-threshold",
        type=_fraction,
        default=DEFAULT_NGRAM_THRESHOLD,
        metavar="SHARE",
        help="share of an eval prompt's n-grams found in one training row that makes it "
        f"contaminated (default {DEFAULT_NGRAM_THRESHOLD})",
    )
    check.add_argument(
        "--max-line-bytes",
        type=_positive,
        default=DEFAULT_MAX_LINE_BYTES,
        metavar="N",
        help=f"longer lines are reported and skipped unread (default {DEFAULT_MAX_LINE_BYTES:,})",
    )
    # A usage error in check-data's arguments shows check-data's usage line.
    check.set_defaults(usage_error=check.error, run=run)


def run(args: argparse.Namespace) -> int:
    """`llmeval check-data`, its arguments parsed. Returns the exit status."""
    for path in (args.train, args.eval):
        if path is not None and not path.exists():
            args.usage_error(f"{path}: no such file")
        if path is not None and not path.is_file():
            args.usage_error(f"{path} is not a file; give a JSONL file")
    check = DataCheck(
        args.train,
        args.eval,
        CheckSettings(args.ngram_size, args.ngram_threshold, args.max_line_bytes),
    )
    output: _JsonOutput | _TextOutput
    if args.format == "json":
        output = _JsonOutput(sys.stdout)
    else:
        output = _TextOutput(sys.stdout, sys.stderr)
    count = 0
    try:
        for finding in check.findings():
            output.finding(finding)
            count += 1
        output.finish(check.summaries, count)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining
        # about the unflushed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ScratchSpaceError as error:
        args.usage_error(str(error))
    except OSError as error:
        args.usage_error(f"cannot read {error.filename or 'the data'}: {error.strerror or error}")
    return 0 if count == 0 else 1
