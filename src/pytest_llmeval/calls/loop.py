"""The background event loop every SDK call runs on: sync callers hand it coroutines and wait.

One loop serves both the sync `llm.chat` of a test body and the concurrent `llm_reply`
prefetch, so one client, one connection pool, one retry path and one limiter serve both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class LoopThread:
    """An asyncio loop on a daemon thread: sync callers hand it coroutines and wait."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="llmeval-calls", daemon=True
        )
        self._thread.start()

    def submit(self, coroutine: Awaitable[T]) -> concurrent.futures.Future[T]:
        async def run() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(run(), self.loop)

    def close(self, finalizer: Callable[[], Awaitable[None]]) -> None:
        async def shutdown() -> None:
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()
            await finalizer()

        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()
