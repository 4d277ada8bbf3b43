"""What one server runs with: the session (server-wide, never per request) and the limits per worker."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from ..allocator import AllocatorChoice
from ..limits import LIMITS
from ..session import SessionConfig

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when imported: set it first

# The per-request memory model the admission budget uses (benchmarks/serve_cost.py, docs/SERVING.md):
# peak RSS growth of a plain removal + PNG encode measured 10.7 MB per megapixel after the cap
# (single requests, 2-16 MP) and 9.3 per request in bursts of 6; the model rounds up. The ORT
# buffers of the C concurrent runs are not per request: the gate bounds them, and they are in the
# worker's warm RSS, outside the budget.
COST_BASE_MB = 4.0
COST_MB_PER_MP = 12.0
# Edge modes cost more per megapixel: peak growth over a plain removal measured 1.8× (4 MP) and
# 1.9× (12 MP) for decontaminate, 1.9× and 2.1× for matting (benchmarks/edges_bench.py, fresh
# processes, docs/BENCHMARKS.md "Edges: time and memory"); rounded up.
EDGE_COST_FACTOR = {"none": 1.0, "decontaminate": 2.0, "matting": 2.5}


@dataclass(frozen=True)
class ServerConfig:
    session: SessionConfig = field(default_factory=SessionConfig)
    max_size: int | None = 1600  # longest side fed to the pipeline; bounds per-request memory
    max_inflight: int = 0  # C: runs inside the model at once, per worker (the run gate); 0 = 1
    max_queue: int = 64  # Q (sized to the clients expected, not to memory: a queued request holds only its body): admitted requests waiting for a slot or for budget, per worker; beyond → 503
    max_upload_bytes: int = LIMITS.max_upload_mb * 1024 * 1024
    idle_seconds: float = 60.0  # drop the session (arena and all) after this long without a request
    retry_after: int = 1  # seconds, in the 503's Retry-After header (plus jitter, so retries spread)
    max_pixels: int = LIMITS.max_pixels
    workers: int = 1  # workers sharing this machine's cores: sets each worker's share
    pipeline_threads: int = 2  # decode/encode threads beside the C model runs (the bounded pool is C + this)
    memory_budget_mb: int = 512  # per worker: estimated working memory of the requests it processes at once
    deadline_seconds: float = 300.0  # a request that cannot start within this (or the client's smaller one) → 503
    # what the workers run. glibc's mmap threshold is fixed at 128 KB: with its sliding default, the big
    # image arrays of a request stay in the heap of whichever pool thread ran it after free (measured:
    # a burst of six 8 MP requests admitted two at a time grew a worker by 286 MB against a 250 MB
    # budget); mapped and unmapped per request, the growth follows the admitted work.
    allocator: AllocatorChoice = field(default_factory=lambda: AllocatorChoice(mmap_threshold=131072))
    body_idle_timeout: float = 15.0  # seconds without a body byte before 408 (a client that sent headers only)
    body_timeout: float = 120.0  # seconds for a whole request body
    body_budget_bytes: int = 0  # request bodies held at once per worker; 0: the memory budget, at least 2 uploads

    @property
    def body_budget(self) -> int:
        """Bytes of request bodies a worker holds at once (read, waiting or running): bodies are read
        before admission, so they need their own bound."""
        return self.body_budget_bytes or max(self.budget_bytes, 2 * self.max_upload_bytes)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "retry_after", "max_pixels", "workers", "memory_budget_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more")
        for name in ("max_queue", "max_inflight", "pipeline_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        if self.max_size is not None and self.max_size < 1:
            raise ValueError("max_size must be 1 or more")
        if self.idle_seconds <= 0:
            raise ValueError("idle_seconds must be positive")
        if self.deadline_seconds <= 0:
            raise ValueError("deadline_seconds must be positive")
        if self.body_idle_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("body timeouts must be positive")

    @property
    def cores(self) -> int:
        """This worker's share of the machine's cores (at least 1)."""
        return max(1, (os.cpu_count() or 1) // self.workers)

    def resolved(self) -> ServerConfig:
        """C and intra-op threads made concrete: C defaults to 1 and threads to cores // C, so
        C × threads fits the worker's share (measured here, one run with the worker's cores beat
        several single-thread runs in throughput and peak memory: docs/SERVING.md)."""
        runs = self.max_inflight or 1
        threads = self.session.intra_op_num_threads or max(1, self.cores // runs)
        return dataclasses.replace(self, max_inflight=runs,
                                   session=dataclasses.replace(self.session, intra_op_num_threads=threads))

    @property
    def slots(self) -> int:
        """Requests processed at once (decode, model, encode): the bounded pool's size."""
        return (self.max_inflight or 1) + self.pipeline_threads

    @property
    def budget_bytes(self) -> int:
        return self.memory_budget_mb * 1024 * 1024


def request_cost_mb(megapixels: float, edge_mode: str = "none") -> float:
    """Estimated peak working memory of one request, MB (the fitted line, scaled for the edge mode)."""
    return (COST_BASE_MB + COST_MB_PER_MP * megapixels) * EDGE_COST_FACTOR.get(edge_mode, EDGE_COST_FACTOR["matting"])
