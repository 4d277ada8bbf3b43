"""Admission control for one worker: K requests run, Q wait, the rest are turned away at once.

An unbounded queue is how a server runs out of memory under load (every waiting request holds its
upload and, once it runs, its own ONNX Runtime buffers). Here a request beyond K + Q gets 503 and
`Retry-After` immediately, and at most K run inside the model.

All counting happens on the worker's event loop (one thread), so plain ints are enough; the work
itself runs on a pool of K threads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Overloaded(Exception):
    """K running and Q waiting already."""


@dataclass(frozen=True)
class AdmissionStats:
    running: int
    waiting: int
    admitted: int  # since start
    rejected: int  # since start


class Admission:
    def __init__(self, max_inflight: int, max_queue: int) -> None:
        self.max_inflight, self.max_queue = max_inflight, max_queue
        self._slots = asyncio.Semaphore(max_inflight)
        self._pool = ThreadPoolExecutor(max_workers=max_inflight, thread_name_prefix="infer")
        self._inside = self._running = 0
        self._admitted = self._rejected = 0

    def enter(self) -> None:
        """Count a request in, or raise Overloaded. Pair with leave()."""
        if self._inside >= self.max_inflight + self.max_queue:
            self._rejected += 1
            raise Overloaded
        self._inside += 1
        self._admitted += 1

    def leave(self) -> None:
        self._inside -= 1

    async def run(self, fn: Callable[[], T]) -> tuple[T, float]:
        """Wait for a slot, run `fn` on the pool; returns (its result, seconds waited)."""
        t0 = time.perf_counter()
        async with self._slots:
            waited = time.perf_counter() - t0
            self._running += 1
            try:
                # shield: a client that goes away must not free the slot while its thread still runs
                fut = asyncio.get_running_loop().run_in_executor(self._pool, fn)
                return await asyncio.shield(fut), waited
            except asyncio.CancelledError:
                await asyncio.wait([fut])
                raise
            finally:
                self._running -= 1

    def stats(self) -> AdmissionStats:
        return AdmissionStats(self._running, self._inside - self._running, self._admitted, self._rejected)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
