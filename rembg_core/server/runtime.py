"""One worker's live state: readiness, the idle releaser over the shared session cache, admission,
the run gate sized to the worker's inference concurrency, and the per-stage view of the pipeline.

Built inside the worker (the app's lifespan), never in gunicorn's master: threads do not survive
fork, and neither do ONNX Runtime's intra-op threads (a session built before fork ran at half speed
in the child when measured), so `preload` verifies and loads the model in the master to fail fast
and share the imported code, then drops that session; each worker builds its own on start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, OrderedDict

import numpy as np

from .. import allocator, models
from .. import session as sessions
from ..errors import ModelError
from ..gate import GATE, GateStats
from ..idle import IdleReleaser, ReleaseEvent
from ..memory import rss
from ..options import RemoveOptions
from ..pipeline import encode_result, remove
from ..session import ModelSession, SessionConfig
from . import metrics
from .admission import Admission
from .config import ServerConfig

log = logging.getLogger("gunicorn.error")
CONNECTIONS_KEPT = 4096  # client (address, port) pairs remembered to tell a fresh connection from a kept-alive one
RECHECK_SECONDS = 5.0  # a worker that is not ready looks at the model again at most this often


def load_verified(config: SessionConfig) -> ModelSession:
    """The shared session, the file verified first; raises ModelError. Never fetches or deletes
    (session.get_session would remove a damaged file and download another: not a server's call).
    The verdict is cached by file stamp, so this is cheap when nothing changed."""
    models.verify(config.model)
    return sessions.get_session(config)


def check_model(config: ServerConfig) -> None:
    load_verified(config.session)


def preload(config: ServerConfig) -> str | None:
    """In gunicorn's master before fork: None when the model loads, else the reason (the workers
    start anyway and report it on /readyz instead of crash-looping)."""
    try:
        check_model(config)
    except Exception as exc:  # noqa: BLE001 - any failure here must become a reason, never a dead master
        return failure(exc)
    finally:
        sessions.release(config.session)
    return None


def failure(exc: BaseException) -> str:
    """One line for the log: the library's own message, or the exception's type and first line."""
    if isinstance(exc, ModelError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"model check failed ({type(exc).__name__}{': ' + text if text else ''})"


def smoke_run(session: ModelSession) -> None:
    """One run on a blank input: a loaded session that cannot run is not ready."""
    side = session.spec.input_size
    session.run(np.zeros((1, 3, side, side), dtype=np.float32))


OUTSIDE_MODEL = ("load", "preprocess", "postprocess", "compose", "encode")  # stages on the pool, not in ORT


class Runtime:
    def __init__(self, config: ServerConfig) -> None:
        config = config.resolved()
        self.config = config
        # one gate per worker: C runs in the model; the pool around it only decodes and encodes
        GATE.resize(config.max_inflight)
        GATE.watch(self._gate_changed)
        self.admission = Admission(config.slots, config.max_queue, config.budget_bytes)
        self.releaser = IdleReleaser(config.idle_seconds, get=load_verified, on_release=self._released)
        self.reason: str | None = "starting"
        self._checked_at = 0.0
        self._smoked = 0  # id() of the session that passed its smoke run
        self._lock = threading.Lock()
        self._active: Counter[str] = Counter()
        self._in_model = 0
        self._overlap_peak = 0
        self.requests = 0
        self._connections: OrderedDict[tuple, None] = OrderedDict()
        self.allocator = allocator.active("self")
        if self.allocator != config.allocator.name:
            log.error("asked for %s but this worker runs %s", config.allocator.name, self.allocator)
        metrics.ALLOCATOR.labels(self.allocator, config.allocator.label).set(1)
        metrics.WORKER_CONFIG.labels(str(config.max_inflight), str(config.session.intra_op_num_threads),
                                     str(config.slots)).set(1)
        metrics.BUDGET.set(config.budget_bytes)
        metrics.WORKER_REQUESTS.set(0)
        self._gate_changed(GATE.stats())
        self.check()

    @property
    def ready(self) -> bool:
        if self.reason is not None and time.monotonic() - self._checked_at > RECHECK_SECONDS:
            self.check()
        return self.reason is None

    def check(self) -> None:
        """Verify the file, load a session and run it once (once per loaded session). A failure of
        any kind becomes `reason`, logged in full and shown on /readyz without paths, never a crash."""
        with self._lock:
            self._checked_at = time.monotonic()
            try:
                session = self.releaser.get(self.config.session)
                if id(session) != self._smoked:
                    smoke_run(session)
                    self._smoked = id(session)
                if self.reason is not None and self.reason != "starting":
                    log.warning("worker %d: model ready again", os.getpid())
                self.reason = None
            except Exception as exc:  # noqa: BLE001 - see above
                reason = failure(exc)
                if reason != self.reason:
                    log.error("worker %d: model not ready: %s", os.getpid(), reason)
                self.reason = reason
        self.refresh_gauges()

    def process(self, data: bytes, opts: RemoveOptions) -> tuple[bytes, dict[str, float]]:
        """Runs on a pool thread: one image in, the encoded result and its stage timings out. Only the
        model run itself passes the gate; decode and encode overlap with other requests' runs."""
        cfg = self.config.session
        try:
            with self.releaser.lease(cfg) as session:
                result = remove(data, cfg, opts, max_pixels=self.config.max_pixels, session=session,
                                on_stage=self._stage)
        except ModelError as exc:
            self.reason = str(exc)
            raise
        self._stage("encode", "start")
        t0 = time.perf_counter()
        try:
            payload = encode_result(result)
        finally:
            self._stage("encode", "end")
        timings = dict(result.timings)
        timings["encode"] = time.perf_counter() - t0
        return payload, timings

    def _stage(self, name: str, edge: str) -> None:
        if name == "session":
            return
        step = 1 if edge == "start" else -1
        with self._lock:
            self._active[name] += step
        metrics.STAGE_ACTIVE.labels(name).inc(step)
        self._note_overlap()

    def _gate_changed(self, stats: GateStats) -> None:
        # called under the gate's lock: only plain assignments and gauge writes here
        self._in_model = stats.running
        metrics.GATE_CAPACITY.set(stats.capacity)
        metrics.GATE_RUNNING.set(stats.running)
        metrics.GATE_WAITING.set(stats.waiting)
        metrics.GATE_PEAK_RUNNING.set(stats.peak_running)
        metrics.GATE_PEAK_WAITING.set(stats.peak_waiting)
        self._note_overlap()

    def _note_overlap(self) -> None:
        if self._in_model:
            outside = sum(self._active[s] for s in OUTSIDE_MODEL)
            if outside > self._overlap_peak:
                self._overlap_peak = outside
                metrics.OVERLAP_PEAK.set(outside)

    def first_on_connection(self, client: tuple[str, int] | None) -> bool:
        """Whether this is the first request seen from the client's address and port, i.e. on a new
        connection (bounded memory: the oldest entries are forgotten)."""
        if not client:
            return True
        key = tuple(client)
        if key in self._connections:
            self._connections.move_to_end(key)
            return False
        self._connections[key] = None
        while len(self._connections) > CONNECTIONS_KEPT:
            self._connections.popitem(last=False)
        return True

    def counted(self) -> None:
        """One more /api/remove answered by this worker (the Serving Lab's per-worker view)."""
        self.requests += 1
        metrics.WORKER_REQUESTS.set(self.requests)

    def refresh_gauges(self) -> None:
        metrics.RSS.set(rss())
        metrics.SESSIONS.set(len(sessions.cached_configs()))
        metrics.READY.set(1 if self.reason is None else 0)

    def _released(self, event: ReleaseEvent) -> None:
        metrics.IDLE_RELEASES.inc()
        self.refresh_gauges()

    def close(self) -> None:
        GATE.unwatch(self._gate_changed)
        self.admission.close()
        self.releaser.close()

    @property
    def pid(self) -> int:
        return os.getpid()
