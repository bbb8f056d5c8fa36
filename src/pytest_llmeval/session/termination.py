"""SIGTERM handled as Ctrl-C is: a cancelled CI job or a timeout stops the session the way
an interrupt does, so the partial report, the job summary and the ledger line are written.

Without it, SIGTERM ends the process at once (exit 143) and the run leaves nothing behind.
A second SIGTERM, while the report is being written, ends the process as before.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

SIGTERM_MESSAGE = "SIGTERM received (the job was cancelled or timed out)"


class Termination:
    """Installs the SIGTERM handler where none is (the default action), and removes it."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        term = getattr(signal, "SIGTERM", None)
        if term is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(term) is not signal.SIG_DFL:
            return  # someone else's handler: theirs to run
        self._previous = signal.signal(term, self._terminate)
        self._installed = True

    def remove(self) -> None:
        if not self._installed:
            return
        self._installed = False
        if signal.getsignal(signal.SIGTERM) == self._terminate:
            signal.signal(signal.SIGTERM, self._previous)

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process at once
        raise KeyboardInterrupt(SIGTERM_MESSAGE)
