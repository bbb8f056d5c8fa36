"""Reading and checking a baseline: the JSON report of an earlier run, for `--llm-baseline`."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_llmeval.errors import BaselineError, json_kind
from pytest_llmeval.report.model import SCHEMA_VERSION


def load_baseline(path: str | os.PathLike[str], *, noun: str = "baseline report") -> dict[str, Any]:
    """Read an earlier JSON report for `--llm-baseline` (and `llmeval diff`, whose `noun`
    for the file is "report").

    Raises `BaselineError` with one line naming the file and what is wrong with it.
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{noun} {source} does not exist") from None
    except IsADirectoryError:
        raise BaselineError(f"{noun} {source} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise BaselineError(f"{noun} {source} is not UTF-8 text") from None
    except OSError as error:
        raise BaselineError(f"{noun} {source} cannot be read: {error.strerror or error}") from None
    try:
        with garbage_collector_paused():
            data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(
            f"{noun} {source} is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise BaselineError(f"{noun} {source} is not JSON: nested too deep") from None
    return check_baseline(data, source, noun=noun)


def check_baseline(
    data: object,
    source: str = "baseline",
    *,
    each_case: bool = True,
    noun: str = "baseline report",
) -> dict[str, Any]:
    """`data` if it is a report this version can compare against, else `BaselineError`.

    `each_case=False` skips the per-case check (build_report reads the cases defensively).
    """

    def incompatible(what: str) -> BaselineError:
        return BaselineError(f"{noun} {source} is not a compatible report: {what}")

    if not isinstance(data, dict):
        raise incompatible(f"expected a JSON object, found {json_kind(data)}")
    if "schema_version" not in data:
        raise incompatible("it has no schema_version (is it a pytest-llmeval report?)")
    version = data["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise incompatible(f"schema_version is {version!r}, this version reads {SCHEMA_VERSION}")
    for key, expected in (("run", dict), ("groups", list), ("format", dict), ("cases", list)):
        if key not in data:
            raise incompatible(f"the key '{key}' is missing")
        if not isinstance(data[key], expected):
            wanted = "an object" if expected is dict else "a list"
            raise incompatible(f"'{key}' is {json_kind(data[key])}, not {wanted}")
    validity = data["format"].get("validity")
    if "validity" not in data["format"] or not _is_rate(validity):
        raise incompatible("'format.validity' is missing or not a number or null")
    for index, group in enumerate(data["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise incompatible(f"groups[{index}] has no 'name' string")
        if "pass_rate" not in group or not _is_rate(group["pass_rate"]):
            raise incompatible(f"groups[{index}] has no 'pass_rate' number or null")
    for index, case in enumerate(data["cases"] if each_case else ()):
        if (
            not isinstance(case, dict)
            or not isinstance(case.get("nodeid"), str)
            or not isinstance(case.get("outcome"), str)
        ):
            raise incompatible(f"cases[{index}] has no 'nodeid' and 'outcome' strings")
    return data


def baseline_case_index(
    baseline: Mapping[str, Any], source: str
) -> dict[str, tuple[str, str | None]]:
    try:
        return {
            case["nodeid"]: (case["outcome"], case.get("category")) for case in baseline["cases"]
        }
    except (KeyError, TypeError, AttributeError):
        check_baseline(baseline, source)  # raises the one-line error naming the bad case
        raise


@contextmanager
def garbage_collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic containers.

    Each of 100,000 new case dicts would otherwise count toward collections that walk every
    object in the process (records, baseline), which made building the report twice as slow.
    Nothing built here forms a cycle, so pausing frees no less memory.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _is_rate(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
