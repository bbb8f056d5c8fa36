"""The exceptions pytest-llmeval raises, and what each one means for the gate."""

from __future__ import annotations

import json
import re

# Characters that could move the cursor, recolour or clear a terminal, or reorder text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


class LLMEvalError(Exception):
    """Base class of every pytest-llmeval exception that is not a model failure."""


class LLMAPIError(LLMEvalError):
    """A model call failed after its retries: an infrastructure error, never a model failure.

    The message names the status, the endpoint and the model; it never contains the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        endpoint: str | None = None,
        model: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.endpoint = endpoint
        self.model = model
        self.attempts = attempts


class ReplayMissError(LLMAPIError):
    """`--llm-record-mode=none` and no recorded response matches the request."""


class EndpointDownError(LLMAPIError):
    """The endpoint refused connections several times in a row, with no answer since: the
    call failed at once, unsent. `url` is the endpoint's base URL."""

    def __init__(
        self, message: str, *, url: str, endpoint: str | None = None, attempts: int = 0
    ) -> None:
        super().__init__(message, endpoint=endpoint, attempts=attempts)
        self.url = url


class StoreError(LLMAPIError):
    """A recording could not be used or written: names the file or folder and what to do."""


class StoreIntegrityError(StoreError):
    """A recording the store refuses to trust: a symbolic link, not a regular file, larger
    than the limit, or holding another request than the one it is named for. Its answer is
    never replayed; the `store_integrity` gate rule names the file."""

    def __init__(self, message: str, *, file: str, problem: str) -> None:
        super().__init__(message)
        self.file = file
        self.problem = problem


class JudgeError(LLMAPIError):
    """The judge model's verdict failed its JSON check twice: an infrastructure error."""


class InvalidSchemaError(LLMEvalError):
    """A JSON Schema given to `parse_json` or `llm_json` is itself invalid: the user's error."""


class DatasetError(LLMEvalError):
    """A dataset file or one of its rows cannot be turned into cases; names the file and line."""


class BaselineError(LLMEvalError):
    """The `--llm-baseline` file cannot be read or is not a compatible report; names the file."""


class SecretLeakError(LLMEvalError):
    """A file about to be written contains the API key; the write is refused."""


class JsonFormatError(AssertionError):
    """A model output failed its strict JSON check: a model failure, counted in its category.

    `str(error)`'s first line reads like
    `no_json_start: reply began with 'Sure, here is the…' (finish_reason=stop)`.
    """

    def __init__(self, message: str, *, category: str, detail: str) -> None:
        super().__init__(message)
        self.category = category
        self.detail = detail


def json_kind(value: object) -> str:
    """How a JSON value reads in an error message: 'a string', 'a list', 'null', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def json_decode_problem(error: json.JSONDecodeError, *, one_line: bool = False) -> str:
    """Where and why text is not JSON, in the words every error message here uses:
    `not valid JSON (Expecting value at line 1 column 1)`, `at column 1` for one line."""
    where = f"column {error.colno}" if one_line else f"line {error.lineno} column {error.colno}"
    return f"not valid JSON ({error.msg} at {where})"


def printable(text: str) -> str:
    """`text` for an error message or a terminal line: white space runs made one space, and
    every other control character shown as an escape (`\\x1b`), never sent raw."""
    text = " ".join(text.split())
    return _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), text)


def dataset_error_line(longrepr: str) -> str | None:
    """The one-line message of a DatasetError raised while a test module was imported (its
    traceback is `cases()`'s, not the test's), or None when the report is about anything else."""
    marker = f"{DatasetError.__module__}.{DatasetError.__name__}: "
    for line in longrepr.splitlines():
        _, found, message = line.partition(marker)
        if found:
            return f"{DatasetError.__name__}: {message.strip()}"
    return None
