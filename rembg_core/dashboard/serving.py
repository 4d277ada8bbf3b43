"""The Serving Lab's engine (the dashboard page is a thin script over it): one server at a time,
started as a child process on a free loopback port, a bounded load against it, and the memory of
every process in its tree sampled while it runs. Results are frozen records kept for A/B.

At most one server per process, owned by the visitor who started it: only the owner stops it,
replaces it or loads it, unless the owner has not been seen for ABANDONED_AFTER seconds (a closed
tab must not pin the server forever). An atexit hook plus the server's own watch on its parent
(`--exit-with`) stop it when the dashboard exits.
"""

from __future__ import annotations

import atexit
import threading
import time
from dataclasses import dataclass, field

from .. import allocator
from ..cli.serve import serve_args
from ..load import LoadResult, LoadRun, LoadSpec
from ..load.compare import Comparison, ServedRun, compare_preload, served_run
from ..load.tree import TreeSample, TreeSampler
from ..server.config import ServerConfig
from ..server.launcher import GunicornSettings
from ..server.process import ServerProcess, get_json


@dataclass(frozen=True)
class LabServer:
    """What a lab server was started with: the service's own two settings types, so its defaults and
    its flags (cli.serve.serve_args) are the service's."""

    config: ServerConfig = field(default_factory=ServerConfig)
    settings: GunicornSettings = field(default_factory=GunicornSettings)

    @property
    def workers(self) -> int:
        return self.settings.workers

    @property
    def preload(self) -> bool:
        return self.settings.preload

    def args(self) -> list[str]:
        return serve_args(self.config, self.settings)

    def label(self) -> str:
        c = self.config
        return (f"{self.workers} worker{'s' if self.workers > 1 else ''}, preload {'on' if self.preload else 'off'}, "
                f"{c.session.flags_label}, C={c.max_inflight or 'auto'} Q={c.max_queue}, "
                f"max_size {c.max_size or 'no cap'}, {c.allocator.label}")


@dataclass(frozen=True)
class LabRecord:
    """One load run: the server it hit, the load, what came back and the tree's memory throughout."""

    number: int
    server: LabServer
    result: LoadResult
    memory: tuple[TreeSample, ...]
    owner: str | None = None  # the visitor who ran it
    stopped: bool = False  # ended early by its Stop: `result` holds what was answered until then
    workers: tuple[int, ...] = ()  # the server's worker pids when the load ended (an idle one shows as 0)
    allocators: tuple[tuple[int, str], ...] = ()  # (worker pid, the malloc its /proc/PID/maps shows)

    def per_worker(self) -> list[dict]:
        """One row per worker: requests it answered with 200 and its share, idle workers included."""
        served = self.result.per_worker
        total = sum(served.values()) or 1
        mapped = dict(self.allocators)
        pids = list(self.workers) + [p for p in served if p not in self.workers]  # replaced workers too
        return [{"worker pid": pid, "200s": served.get(pid, 0), "share": f"{served.get(pid, 0) / total:.0%}",
                 "allocator": mapped.get(pid, "–")} for pid in pids]

    def peak_pss(self) -> int | None:
        values = [s.pss for s in self.memory if s.pss is not None]
        return max(values) if values else None

    def end_pss(self) -> int | None:
        return next((s.pss for s in reversed(self.memory) if s.pss is not None), None)

    def served(self) -> ServedRun:
        """Requests and peak PSS/USS per worker, for comparisons per busy worker."""
        return served_run(f"run #{self.number}", self.server.preload, self.result.samples, self.memory)

    def row(self) -> dict:
        r, MB = self.result, 1024 * 1024
        fmt = lambda v: None if v is None else round(v, 3)  # noqa: E731
        peak_pss, end_pss = self.peak_pss(), self.end_pss()
        return {"run": self.number, "server": self.server.label(), "clients": r.concurrency,
                "requests": len(r.samples), "ok/s": round(r.throughput, 2), "p50 s": fmt(r.p50),
                "p95 s": fmt(r.p95), "p99 s": fmt(r.p99),
                "status": ", ".join(f"{k}: {v}" for k, v in r.status_counts.items()),
                "peak tree RSS MB": round(max((s.rss for s in self.memory), default=0) / MB),
                "peak tree PSS MB": None if peak_pss is None else round(peak_pss / MB),
                "end tree PSS MB": None if end_pss is None else round(end_pss / MB),
                "requests per worker": self.served().requests_text}


ABANDONED_AFTER = 600.0  # s without the owner's page: then anyone may stop or replace the server


class NotOwnerError(PermissionError):
    """Another visitor owns the running server."""


class ServingLab:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.server: ServerProcess | None = None
        self.spec: LabServer | None = None
        self.sampler: TreeSampler | None = None
        self.load: LoadRun | None = None
        self.records: list[LabRecord] = []
        self.owner: str | None = None  # the visitor (browser session) who started the running server
        self.started_at = 0.0  # time.time()
        self.owner_seen = 0.0  # time.monotonic() of the owner's last page run
        atexit.register(self.stop)

    def seen(self, visitor: str) -> None:
        """The owner's page ran: the server is not abandoned."""
        if visitor == self.owner:
            self.owner_seen = time.monotonic()

    def may_control(self, visitor: str) -> bool:
        """Whether `visitor` may stop, replace or load the server: its owner, anyone when none runs,
        or anyone once the owner has been away for ABANDONED_AFTER seconds."""
        return (not self.running or visitor == self.owner
                or time.monotonic() - self.owner_seen > ABANDONED_AFTER)

    def _check(self, visitor: str | None) -> None:
        if visitor is not None and not self.may_control(visitor):
            raise NotOwnerError("another visitor started this server; only they can stop or replace it")

    def start(self, spec: LabServer, visitor: str | None = None) -> ServerProcess:
        """Stop whatever runs (if `visitor` may), start `spec`, wait until every worker can answer."""
        with self._lock:
            self._check(visitor)
            self._stop_locked()
            self.owner, self.started_at, self.owner_seen = visitor, time.time(), time.monotonic()
            server = ServerProcess(spec.args())
            server.start(wait="/readyz")
            self.server, self.spec = server, spec
            assert server.proc is not None
            self.sampler = TreeSampler(server.proc.pid, interval=0.5, full=True).start()
            return server

    def stop(self, visitor: str | None = None) -> None:
        """Stop the server (`visitor` None: the dashboard itself, at exit)."""
        with self._lock:
            self._check(visitor)
            self._stop_locked()
            self.owner = None

    def _stop_locked(self) -> None:
        if self.load is not None:
            self.load.stop()
            self.load = None
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.proc is not None and self.server.proc.poll() is None

    def ready(self) -> dict:
        return get_json(self.server.url + "/readyz")[1] if self.server and self.running else {}

    def run_load(self, images: tuple[tuple[str, bytes], ...], concurrency: int, requests: int | None,
                 duration: float | None = None, visitor: str | None = None) -> LoadRun:
        """A bounded load: `requests` in total, or as many as fit in `duration` seconds."""
        if not self.server or not self.running:
            raise RuntimeError("start a server first")
        self._check(visitor)
        spec = LoadSpec(self.server.url + "/api/remove", images, concurrency, requests, duration, timeout=300)
        self.load = LoadRun(spec).start()
        return self.load

    def finish(self, run: LoadRun, since: float, visitor: str | None = None, stopped: bool = False) -> LabRecord:
        """Wait for `run`, file it with the tree's memory samples taken since `since` (sampler time)."""
        result = run.wait()
        assert self.spec is not None, "a load runs against a started server"
        memory = tuple(s for s in self.sampler.samples() if s.t >= since) if self.sampler else ()
        workers = tuple(self.server.workers()) if self.server else ()
        record = LabRecord(len(self.records) + 1, self.spec, result, memory, visitor, stopped, workers,
                           _allocators(workers))
        self.records.append(record)
        self.load = None
        return record

    def now(self) -> float:
        """The sampler's clock, to mark where a load starts."""
        samples = self.sampler.samples() if self.sampler else []
        return samples[-1].t if samples else 0.0


def _allocators(pids: tuple[int, ...]) -> tuple[tuple[int, str], ...]:
    out = []
    for pid in pids:
        try:
            out.append((pid, allocator.active(pid)))
        except allocator.AllocatorError:  # the worker exited meanwhile
            pass
    return tuple(out)


def preload_verdict(records: list[LabRecord]) -> Comparison | None:
    """The article says --preload lets workers share the model. Per busy worker (rembg_core.load.compare):
    runs with ≥ 2 workers and the latest run's workers, flags and load, preload on vs off; only runs where
    every worker served requests count, at least two per arm. None until both arms have a run."""
    multi = [rec for rec in records if rec.server.workers >= 2]
    if not multi:
        return None
    ref = multi[-1]
    alike = [rec for rec in multi if rec.server.workers == ref.server.workers
             and rec.server.config.session == ref.server.config.session and rec.result.concurrency == ref.result.concurrency]
    if len({rec.server.preload for rec in alike}) < 2:
        return None
    return compare_preload([rec.served() for rec in alike])
