"""The live progress line: calls done and in flight, tokens, cost so far and an ETA.

On a terminal it is drawn to the right of pytest's own progress (the dots, or the test's
line with -v), rewritten as calls finish and erased before pytest writes again; in CI
without a terminal it is a line every `CI_EVERY_S` seconds. It never runs under -q, under
xdist (the workers have no terminal) or outside an eval session.

It writes to a copy of the terminal's file descriptor taken before any test ran: pytest
captures descriptor 1 while a test runs, and the line must show exactly then, while a case
waits for its calls.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

import pytest

from pytest_llmeval.calls.meter import CallMeter, progress_text

TTY_EVERY_S = 0.5
CI_EVERY_S = 10.0
_SAVE, _RESTORE, _CLEAR = "\x1b7", "\x1b8", "\x1b[K"
_PROGRESS_ROOM = len(" [100%]") + 2  # pytest's own percentage keeps its place


class Writer(Protocol):
    """What the line needs of pytest's TerminalWriter."""

    @property
    def fullwidth(self) -> int: ...

    @property
    def width_of_current_line(self) -> int: ...

    def flush(self) -> None: ...


class ProgressLine:
    """The progress of an eval session, as a plugin of its own (registered by the session
    when the line is wanted, see `wanted`)."""

    def __init__(
        self,
        meter: CallMeter,
        writer: Writer,
        fd: int,
        *,
        tty: bool,
        cases: Collection[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.meter = meter
        self.writer = writer
        self.fd = fd
        self.tty = tty
        self.cases = set(cases)
        self.done = 0
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drawn = False
        self._thread: threading.Thread | None = None

    # -- hooks -------------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: Any) -> None:
        # Called before pytest's terminal reporter writes the dot (this plugin registers
        # after it, and pluggy calls later plugins first).
        self.erase()

    @pytest.hookimpl(trylast=True)  # after pytest wrote its own progress
    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        if nodeid in self.cases:
            self.done += 1
        self.draw()

    @pytest.hookimpl(tryfirst=True)  # before the summary is written
    def pytest_sessionfinish(self) -> None:
        self.stop()

    # -- the line ---------------------------------------------------------------------------

    def text(self) -> str:
        return progress_text(
            self.meter.reading(),
            cases_done=self.done,
            cases_total=len(self.cases),
            elapsed_s=self._clock() - self._started,
        )

    def draw(self) -> None:
        """On a terminal, rewrites the line right of pytest's cursor (or erases it where
        there is no room)."""
        if not self.tty:
            return
        with self._lock:
            self.writer.flush()
            room = self.writer.fullwidth - self.writer.width_of_current_line - _PROGRESS_ROOM
            text = self.text()
            if room < 20:
                self._write(_CLEAR if self._drawn else "")
                self._drawn = False
                return
            if len(text) > room:
                text = text[: room - 1] + "…"
            self._write(f"{_SAVE} {text}{_CLEAR}{_RESTORE}")
            self._drawn = True

    def erase(self) -> None:
        if self.tty and self._drawn:
            with self._lock:
                self._write(_CLEAR)
                self._drawn = False

    def tick(self) -> None:
        """What the timer does: redraw on a terminal; in CI, a line every CI_EVERY_S."""
        if self.tty:
            self.draw()
            return
        now = self._clock()
        if now - self._last_line >= CI_EVERY_S and self.done < len(self.cases):
            self._last_line = now
            with self._lock:
                self.writer.flush()
                self._write(f"\n{self.text()}\n")

    def start(self) -> None:
        every = TTY_EVERY_S if self.tty else 1.0

        def run() -> None:
            while not self._stop.wait(every):
                self.tick()

        self._thread = threading.Thread(target=run, name="llmeval-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.erase()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _write(self, text: str) -> None:
        if text and self.fd >= 0:
            try:
                os.write(self.fd, text.encode("utf-8", "replace"))
            except OSError:  # the terminal went away: the run goes on without the line
                self.fd = -1


def wanted(*, verbosity: int, tty: bool, ci: bool, xdist: bool) -> bool:
    """The line is drawn on a terminal, or printed every CI_EVERY_S in CI; never under -q
    or xdist."""
    return verbosity >= 0 and not xdist and (tty or ci)
