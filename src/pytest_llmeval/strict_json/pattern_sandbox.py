"""Backtracking pattern searches in a process of their own, each under a time limit.

Python's `re` and `regress` backtrack, and neither can be stopped from inside the process
(`re` holds the interpreter lock while it matches). The few patterns RE2 cannot take in
their meaning (`linear_patterns`) are searched here instead: by a small worker process that
reads one search a line and answers it; a search that takes longer than the limit has the
worker killed (the next search starts another) and raises `PatternTimeoutError`, a schema
error naming the pattern.
"""

from __future__ import annotations

import atexit
import json
import queue
import subprocess
import sys
import threading
from typing import IO, Final

from pytest_llmeval.errors import InvalidSchemaError

#: Seconds one search may take. A pattern written for it takes microseconds; one that takes
#: this long backtracks exponentially and would take hours on a slightly longer reply.
TIME_LIMIT_S: Final = 2.0
#: Seconds the worker may take to start, on a machine busy with other work.
START_LIMIT_S: Final = 120.0

_WORKER = r"""
import json, re, sys
surrogate = re.compile("[\ud800-\udfff]")
searches = {}
def search(engine, pattern):
    found = searches.get((engine, pattern))
    if found is None:
        if engine == "re":
            found = re.compile(pattern).search
        else:
            import regress
            find = regress.Regex(pattern, engine.partition(":")[2]).find
            def found(text, find=find):
                try:
                    return find(text)
                except UnicodeEncodeError:
                    return find(surrogate.sub("\ufffd", text))
        searches[(engine, pattern)] = found
    return found
sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    engine, pattern, text = json.loads(line)
    try:
        answer = "1" if search(engine, pattern)(text) is not None else "0"
    except Exception as error:
        answer = "E" + json.dumps(f"{type(error).__name__}: {error}")
    sys.stdout.write(answer + "\n")
    sys.stdout.flush()
"""


class PatternTimeoutError(InvalidSchemaError):
    """A schema pattern took longer than the time limit on one string: it backtracks
    exponentially, a fault of the test's schema, never of the model's reply."""

    def __init__(self, pattern: str, length: int, limit_s: float) -> None:
        super().__init__(
            f"invalid JSON Schema: the pattern {pattern!r} took more than {limit_s:g} s on a"
            f" string of {length} characters (it backtracks exponentially: nested or"
            " overlapping quantifiers such as ([a-z]+ ?)*); rewrite it so that each character"
            " can be matched one way only"
        )
        self.pattern = pattern


class PatternSandbox:
    """One worker process, started on first use and again after a search that timed out."""

    def __init__(self, time_limit_s: float = TIME_LIMIT_S) -> None:
        self.time_limit_s = time_limit_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._answers: queue.Queue[str | None] = queue.Queue()

    def search(self, engine: str, pattern: str, text: str) -> bool:
        """Whether `pattern` (engine "re", or "regress:FLAGS") matches somewhere in `text`."""
        with self._lock:
            process = self._running()
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps([engine, pattern, text]) + "\n")
                process.stdin.flush()
            except OSError:
                self._stop()
                raise RuntimeError("the pattern worker process ended unexpectedly") from None
            try:
                answer = self._answers.get(timeout=self.time_limit_s)
            except queue.Empty:
                self._stop()
                raise PatternTimeoutError(pattern, len(text), self.time_limit_s) from None
            if answer is None:
                self._stop()
                raise RuntimeError("the pattern worker process ended unexpectedly")
            if answer.startswith("E"):
                raise RuntimeError(f"pattern {pattern!r}: {json.loads(answer[1:])}")
            return answer == "1"

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._answers = queue.Queue()
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        assert process.stdout is not None
        threading.Thread(
            target=_read_lines, args=(process.stdout, self._answers), daemon=True
        ).start()
        try:
            ready = self._answers.get(timeout=START_LIMIT_S)
        except queue.Empty:
            ready = None
        if ready != "ready":
            process.kill()
            raise RuntimeError("the pattern worker process did not start")
        self._process = process
        return process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def _read_lines(stream: IO[str], answers: queue.Queue[str | None]) -> None:
    for line in stream:
        answers.put(line.rstrip("\n"))
    answers.put(None)


_SANDBOX: PatternSandbox | None = None
_SANDBOX_LOCK = threading.Lock()


def sandbox() -> PatternSandbox:
    """The process's one sandbox, started on first use and stopped at exit."""
    global _SANDBOX
    with _SANDBOX_LOCK:
        if _SANDBOX is None:
            _SANDBOX = PatternSandbox()
            atexit.register(_SANDBOX.close)
        return _SANDBOX
