"""The run gate: how many model runs are inside ONNX Runtime at once in this process. One per process.

Every concurrent run on a session gets its own ORT buffers, so unbounded parallelism multiplies peak
memory without adding throughput. The library's default capacity comes from
`REMBG_LAB_MAX_CONCURRENT_RUNS`; a service sets it to its inference concurrency at worker start
(`GATE.resize(C)`), so there is exactly one gate between a request and the model. Waits are counted
so that a UI or `/metrics` can say how long runs queued.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .limits import LIMITS


@dataclass(frozen=True)
class GateStats:
    capacity: int
    running: int  # runs inside ORT right now
    waiting: int  # runs queued for the gate right now
    peak_running: int
    peak_waiting: int
    waits: int  # runs that had to queue, since start
    wait_seconds: float  # their total time in the queue


class RunGate:
    """At most `capacity` runs at once; the rest wait in arrival order of the condition variable."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("gate capacity must be 1 or more")
        self._capacity = capacity
        self._cond = threading.Condition(threading.RLock())
        self._running = self._waiting = self._peak_running = self._peak_waiting = self._waits = 0
        self._wait_seconds = 0.0
        self._watchers: list[Callable[[GateStats], None]] = []

    def watch(self, fn: Callable[[GateStats], None]) -> None:
        """Call `fn(stats)` whenever a run starts waiting, enters or leaves (a service's live gauges)."""
        self._watchers.append(fn)

    def unwatch(self, fn: Callable[[GateStats], None]) -> None:
        if fn in self._watchers:
            self._watchers.remove(fn)

    def _notify(self) -> None:
        # called with the (re-entrant) lock held, so watchers see changes in order; keep them quick
        if self._watchers:
            stats = self.stats()
            for fn in list(self._watchers):
                fn(stats)

    @property
    def capacity(self) -> int:
        return self._capacity

    def resize(self, capacity: int) -> None:
        """A new capacity; runs already inside finish, waiters are let in as room appears."""
        if capacity < 1:
            raise ValueError("gate capacity must be 1 or more")
        with self._cond:
            self._capacity = capacity
            self._cond.notify_all()

    def acquire(self) -> float:
        """Take a place; returns the seconds spent waiting for it."""
        with self._cond:
            waited = 0.0
            if self._running >= self._capacity:
                self._waiting += 1
                self._peak_waiting = max(self._peak_waiting, self._waiting)
                self._notify()
                t0 = time.perf_counter()
                try:
                    while self._running >= self._capacity:
                        self._cond.wait()
                finally:
                    self._waiting -= 1
                waited = time.perf_counter() - t0
                self._waits += 1
                self._wait_seconds += waited
            self._running += 1
            self._peak_running = max(self._peak_running, self._running)
            self._notify()
            return waited

    def release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify()
            self._notify()

    def stats(self) -> GateStats:
        with self._cond:
            return GateStats(self._capacity, self._running, self._waiting, self._peak_running,
                             self._peak_waiting, self._waits, self._wait_seconds)


GATE = RunGate(LIMITS.max_concurrent_runs)
