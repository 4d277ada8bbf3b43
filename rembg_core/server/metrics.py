"""Prometheus metrics. Under gunicorn every worker writes to PROMETHEUS_MULTIPROC_DIR (set by the
launcher before this module is imported) and /metrics, answered by any one worker, sums them all.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from .config import MULTIPROC_ENV

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)

REQUESTS = Counter("rembg_requests_total", "HTTP requests by route and status", ["route", "status"])
LATENCY = Histogram("rembg_request_seconds", "Request latency, arrival to response", ["route"],
                    buckets=LATENCY_BUCKETS)
QUEUE_WAIT = Histogram("rembg_admission_wait_seconds",
                       "Time an admitted request waited before processing: for a slot and budget, then for the run gate",
                       buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32))
GATE_WAIT = Histogram("rembg_gate_wait_seconds", "Time a run waited for the run gate (C runs in the model)",
                      buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16))
STAGE = Histogram("rembg_stage_seconds", "Time per request in each stage (as in the Server-Timing header)",
                  ["stage"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16))
STAGE_ACTIVE = Gauge("rembg_stage_active", "Requests in each stage right now", ["stage"], multiprocess_mode="livesum")
OVERLAP_PEAK = Gauge("rembg_pipeline_overlap_peak",
                     "Most requests seen in decode/preprocess/postprocess/encode while a run was in the model, per worker",
                     multiprocess_mode="liveall")
GATE_CAPACITY = Gauge("rembg_gate_capacity", "C: runs allowed inside the model at once, per worker",
                      multiprocess_mode="liveall")
GATE_RUNNING = Gauge("rembg_gate_running", "Runs inside the model now, per worker", multiprocess_mode="liveall")
GATE_WAITING = Gauge("rembg_gate_waiting", "Runs waiting for the gate now, per worker", multiprocess_mode="liveall")
GATE_PEAK_RUNNING = Gauge("rembg_gate_peak_running", "Most runs inside the model at once since start, per worker",
                          multiprocess_mode="liveall")
GATE_PEAK_WAITING = Gauge("rembg_gate_peak_waiting", "Most runs waiting for the gate at once since start, per worker",
                          multiprocess_mode="liveall")
REJECTED = Counter("rembg_admission_rejected_total", "Requests turned away with 503 because every slot and the queue were full")
SHED = Counter("rembg_shed_total", "Requests refused before processing, by reason "
               "(queue_full, deadline, over_budget, not_ready)", ["reason"])
BUDGET = Gauge("rembg_memory_budget_bytes", "Per-worker budget for the estimated cost of requests in process",
               multiprocess_mode="liveall")
RESERVED = Gauge("rembg_memory_reserved_bytes", "Estimated cost of the requests in process now, per worker",
                 multiprocess_mode="liveall")
QUEUED = Gauge("rembg_queued_requests", "Requests with their body here, waiting for a slot or budget",
               multiprocess_mode="livesum")
INFLIGHT = Gauge("rembg_inflight_requests", "Admitted requests (running or waiting)", multiprocess_mode="livesum")
WORKER_REQUESTS = Gauge("rembg_worker_requests", "Requests to /api/remove each worker answered since it started",
                        multiprocess_mode="liveall")
ALLOCATOR = Gauge("rembg_allocator_info", "The malloc each worker runs (from its /proc/PID/maps) and what was asked",
                  ["allocator", "requested"], multiprocess_mode="liveall")
WORKER_CONFIG = Gauge("rembg_worker_config_info", "Runs in the model at once (C), intra-op threads per run, pool slots",
                      ["runs", "threads", "slots"], multiprocess_mode="liveall")
RSS = Gauge("rembg_worker_rss_bytes", "Resident memory of each worker", multiprocess_mode="liveall")
SESSIONS = Gauge("rembg_sessions_loaded", "ONNX Runtime sessions loaded, per worker", multiprocess_mode="liveall")
IDLE_RELEASES = Counter("rembg_idle_releases_total", "Sessions dropped after idle_seconds without a request")
CLIENT_GONE = Counter("rembg_client_gone_total", "Requests dropped before the model ran: their client had gone")
READY = Gauge("rembg_ready", "1 when the worker's model is verified and loaded", multiprocess_mode="liveall")


def render() -> tuple[bytes, str]:
    """The exposition text: every live worker's values under gunicorn, this process's otherwise."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: drop a dead worker's live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
