"""Admission for one worker: cost-aware, first come first served, with deadlines.

A request is counted in once its body is here (at most `slots + max_queue` per worker, else 503 at
once). Under overload the places are shared fairly: a client turned away with 503 closes its
connection and comes back on a new one, while a client just served comes straight back on its
kept-alive connection. So each refusal reserves a place, for a while, for a request on a *fresh*
connection: a returning keep-alive request cannot take it, gets 503 itself, and waits its turn too.
Without that, the clients admitted first keep the places and the refused ones starve.
Once its body is here its cost is estimated (megapixels after the cap, edge mode: see config.py),
and it waits, in arrival order, until a processing slot is free *and* its cost fits the worker's
memory budget. It is shed with 503 instead of waiting when it cannot start before its deadline,
and refused with 413 when its cost alone is over the whole budget.

The slots are a bounded thread pool of C + pipeline threads: decode, preprocess, postprocess and
encode run there, outside the model; the run gate (rembg_core.gate.GATE, sized to C at worker
start) is the only limit on runs inside ONNX Runtime. There is no second inference semaphore here.

All counting happens on the worker's event loop (one thread), so plain ints are enough.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
EWMA = 0.2  # weight of the newest service time in the running estimate


class Overloaded(Exception):
    """Every slot busy and the queue full (or the free places held for refused clients): 503 at once."""


class Shed(Exception):
    """Turned away before processing (503); `reason` is the metrics label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TooCostly(Exception):
    """One request's estimated cost is over the whole budget (413)."""


@dataclass(frozen=True)
class AdmissionStats:
    running: int  # requests in a processing slot (decode, model or encode)
    waiting: int  # counted in, not yet in a slot (body arriving or queued)
    admitted: int  # since start
    rejected: int  # since start: queue full
    budget_bytes: int
    reserved_bytes: int  # estimated cost of the requests in slots now
    queued: int  # waiting for a slot or budget, body already here
    service_seconds: float  # running estimate of one request's time in a slot


class Admission:
    def __init__(self, slots: int, max_queue: int, budget_bytes: int, hold_seconds: float = 12.0) -> None:
        self.slots, self.max_queue, self.budget = slots, max_queue, budget_bytes
        self.hold_seconds = hold_seconds  # how long a refused client's place is held (its Retry-After and then some)
        self._owed: deque[float] = deque()  # expiry times of the places held for refused clients
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="pipeline")
        self._inside = self._running = 0
        self._admitted = self._rejected = 0
        self._reserved = 0
        self._queue: deque[tuple[asyncio.Future, int]] = deque()
        self._service = 1.0  # seconds; replaced by the measured average after the first requests

    def enter(self, fresh: bool = True) -> None:
        """Count a request in, or raise Overloaded. Pair with leave(). `fresh`: the request is the
        first on its connection (a refused client retrying comes back on a new one)."""
        now = time.monotonic()
        while self._owed and self._owed[0] < now:
            self._owed.popleft()
        room = self.slots + self.max_queue - self._inside
        held = 0 if fresh else min(len(self._owed), room)
        if room - held <= 0:
            self._rejected += 1
            if len(self._owed) < self.slots + self.max_queue:
                self._owed.append(now + self.hold_seconds)
            raise Overloaded
        if fresh and self._owed:
            self._owed.popleft()  # a refused client (or a newcomer) took a held place
        self._inside += 1
        self._admitted += 1

    def leave(self) -> None:
        self._inside -= 1

    @property
    def busy(self) -> bool:
        """Every slot taken or someone queued: a good time to close keep-alive connections."""
        return self._running >= self.slots or bool(self._queue)

    def estimated_wait(self, ahead: int) -> float:
        """Seconds until a request with `ahead` requests queued before it gets a slot."""
        free = self.slots - self._running
        if free > ahead:
            return 0.0
        return (ahead - free + 1) / self.slots * self._service

    def _fits(self, cost: int) -> bool:
        return self._running < self.slots and (self._reserved + cost <= self.budget or self._running == 0)

    async def _acquire(self, cost: int, deadline: float) -> None:
        if cost > self.budget:
            raise TooCostly
        if not self._queue and self._fits(cost):
            self._take(cost)
            return
        if time.monotonic() + self.estimated_wait(len(self._queue)) > deadline:
            raise Shed("deadline", "cannot start before the deadline")
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (fut, cost)
        self._queue.append(entry)
        try:
            await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise Shed("deadline", "the deadline passed while queued") from None
        except BaseException:
            if fut.done() and not fut.cancelled():  # handed a slot just as we were cancelled: give it back
                self._give_back(cost)
            raise
        finally:
            if entry in self._queue:
                self._queue.remove(entry)
                self._wake()  # a head that left may unblock the ones behind it

    def _take(self, cost: int) -> None:
        self._running += 1
        self._reserved += cost

    def _give_back(self, cost: int) -> None:
        self._running -= 1
        self._reserved -= cost
        self._wake()

    def _wake(self) -> None:
        """Hand slots to the queue's head, in order: a costly head is not overtaken (no starvation)."""
        while self._queue and self._fits(self._queue[0][1]):
            fut, cost = self._queue.popleft()
            if fut.done():
                continue
            self._take(cost)
            fut.set_result(None)

    async def run(self, fn: Callable[[], T], cost: int, deadline: float) -> tuple[T, float]:
        """Wait (in order) for a slot and budget, run `fn` on the pool; returns (its result, seconds
        waited). Raises Shed, TooCostly."""
        t0 = time.perf_counter()
        await self._acquire(cost, deadline)
        waited = time.perf_counter() - t0
        started = time.perf_counter()
        try:
            # shield: a client that goes away must not free the slot while its thread still runs
            fut = asyncio.get_running_loop().run_in_executor(self._pool, fn)
            try:
                return await asyncio.shield(fut), waited
            except asyncio.CancelledError:
                await asyncio.wait([fut])
                raise
        finally:
            took = time.perf_counter() - started
            self._service = (1 - EWMA) * self._service + EWMA * took
            self._give_back(cost)

    def stats(self) -> AdmissionStats:
        return AdmissionStats(self._running, self._inside - self._running, self._admitted, self._rejected,
                              self.budget, self._reserved, len(self._queue), self._service)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
