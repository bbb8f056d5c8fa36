"""The progress line's drawing, with a pipe for the terminal and a clock of our own."""

from __future__ import annotations

import os

from pytest_llmeval.calls.meter import CallMeter
from pytest_llmeval.session.progress import CI_EVERY_S, ProgressLine, wanted


class FakeWriter:
    def __init__(self, column: int = 20, width: int = 120) -> None:
        self.fullwidth = width
        self.width_of_current_line = column
        self.flushed = 0

    def flush(self) -> None:
        self.flushed += 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def line(*, tty: bool, writer: FakeWriter | None = None) -> tuple[ProgressLine, int, Clock]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    meter = CallMeter()
    meter.started()
    clock = Clock()
    progress = ProgressLine(
        meter, writer or FakeWriter(), write, tty=tty, cases=["a", "b", "c"], clock=clock
    )
    return progress, read, clock


def drained(fd: int) -> str:
    try:
        return os.read(fd, 65536).decode()
    except BlockingIOError:
        return ""


def test_on_a_terminal_the_line_is_drawn_after_each_case_and_erased_before_pytest_writes() -> None:
    progress, read, clock = line(tty=True)
    clock.now += 2
    progress.pytest_runtest_logfinish("a", None)
    drawn = drained(read)
    assert drawn.startswith("\x1b7 llmeval: 1/3 cases, ETA 4 s, 1 calls in flight, 0 done")
    assert drawn.endswith("\x1b[K\x1b8")
    progress.pytest_runtest_logreport(None)
    assert drained(read) == "\x1b[K"
    progress.stop()


def test_without_room_right_of_the_cursor_nothing_is_drawn() -> None:
    progress, read, _ = line(tty=True, writer=FakeWriter(column=100, width=120))
    progress.draw()
    assert drained(read) == ""
    progress.stop()


def test_in_ci_a_line_every_ten_seconds() -> None:
    progress, read, clock = line(tty=False)
    progress.tick()
    assert drained(read) == ""
    clock.now += CI_EVERY_S
    progress.tick()
    assert (
        drained(read) == "\nllmeval: 0/3 cases, 1 calls in flight, 0 done, 0 tokens, est. $0.0000\n"
    )
    progress.stop()


def test_the_line_is_off_under_q_and_xdist_and_without_a_terminal_outside_ci() -> None:
    assert wanted(verbosity=0, tty=True, ci=False, xdist=False)
    assert wanted(verbosity=0, tty=False, ci=True, xdist=False)
    assert not wanted(verbosity=-1, tty=True, ci=False, xdist=False)
    assert not wanted(verbosity=0, tty=True, ci=False, xdist=True)
    assert not wanted(verbosity=0, tty=False, ci=False, xdist=False)
