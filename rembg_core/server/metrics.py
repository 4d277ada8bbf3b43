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

from .launcher import MULTIPROC_ENV

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)

REQUESTS = Counter("rembg_requests_total", "HTTP requests by route and status", ["route", "status"])
LATENCY = Histogram("rembg_request_seconds", "Request latency, arrival to response", ["route"],
                    buckets=LATENCY_BUCKETS)
QUEUE_WAIT = Histogram("rembg_admission_wait_seconds", "Time an admitted request waited for an inference slot",
                       buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16))
REJECTED = Counter("rembg_admission_rejected_total", "Requests turned away with 503 (K running, Q waiting)")
INFLIGHT = Gauge("rembg_inflight_requests", "Admitted requests (running or waiting)", multiprocess_mode="livesum")
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
