"""Comparing served runs per busy worker: what `--preload` does to each worker that served requests.

A worker that served nothing never loaded its session (or never grew its arena), so it makes a
tree's memory look small; comparing a run where one of two workers sat idle with a run where both
worked compares different things. A verdict here uses only runs where every worker served at least
one request, needs at least MIN_RUNS such runs per arm, and calls a difference only when the arms'
ranges are apart by more than the noise floor.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..memory import MB
from .results import RequestSample
from .tree import TreeSample

MIN_RUNS = 2  # per arm: one run has no spread to compare
NOISE_FLOOR = 1 * MB  # the sampler's floor (rembg_core.measure.noise), per worker


@dataclass(frozen=True)
class WorkerFigures:
    pid: int
    requests: int  # answers this worker sent (X-Worker-Pid)
    peak_pss: int | None  # bytes, highest PSS seen while the load ran
    peak_uss: int | None


@dataclass(frozen=True)
class ServedRun:
    """One load run on one server, reduced to what a per-worker comparison needs."""

    label: str  # "run #3" or "round 2"
    preload: bool
    workers: tuple[WorkerFigures, ...]

    @property
    def idle_workers(self) -> tuple[int, ...]:
        return tuple(w.pid for w in self.workers if w.requests == 0)

    @property
    def all_busy(self) -> bool:
        return bool(self.workers) and not self.idle_workers

    def per_busy_worker(self, what: str = "pss") -> float | None:
        """Mean peak PSS (or USS) over the workers that served requests, bytes."""
        values = [getattr(w, f"peak_{what}") for w in self.workers if w.requests]
        values = [v for v in values if v is not None]
        return statistics.fmean(values) if values else None

    @property
    def requests_text(self) -> str:
        return ", ".join(f"{w.pid}: {w.requests}" for w in self.workers) or "no workers seen"

    def to_dict(self) -> dict:
        return {"label": self.label, "preload": self.preload,
                "workers": [{"pid": w.pid, "requests": w.requests, "peak_pss": w.peak_pss, "peak_uss": w.peak_uss}
                            for w in self.workers]}


def served_run(label: str, preload: bool, samples: Iterable[RequestSample], memory: Sequence[TreeSample],
               worker_pids: Iterable[int] | None = None) -> ServedRun:
    """Requests per worker from the answers' X-Worker-Pid, peak PSS/USS per worker from the tree samples."""
    counts: dict[int, int] = {}
    for s in samples:
        if s.worker is not None and 200 <= s.status < 300:
            counts[s.worker] = counts.get(s.worker, 0) + 1
    pids = set(worker_pids or ()) | {p.pid for t in memory for p in t.procs if p.role == "worker"}
    figures = []
    for pid in sorted(pids):
        pss = [p.pss for t in memory for p in t.procs if p.pid == pid and p.pss is not None]
        uss = [p.uss for t in memory for p in t.procs if p.pid == pid and p.uss is not None]
        figures.append(WorkerFigures(pid, counts.get(pid, 0), max(pss) if pss else None, max(uss) if uss else None))
    return ServedRun(label, preload, tuple(figures))


@dataclass(frozen=True)
class Comparison:
    verdict: str  # "saves", "costs", "no difference" or "could not tell"
    because: str
    on: tuple[ServedRun, ...]
    off: tuple[ServedRun, ...]

    @property
    def told(self) -> bool:
        return self.verdict != "could not tell"

    def figures(self) -> dict[str, list[float]]:
        """MB per busy worker, per run, for each arm and measure."""
        out: dict[str, list[float]] = {}
        for arm, runs in (("preload", self.on), ("no preload", self.off)):
            for what in ("pss", "uss"):
                out[f"{what.upper()} per busy worker, {arm}"] = [
                    v / MB for r in runs if (v := r.per_busy_worker(what)) is not None]
        return out


def compare_preload(runs: Sequence[ServedRun]) -> Comparison:
    """Preload on vs off, PSS per busy worker. "could not tell" (and why) unless each arm has
    MIN_RUNS runs in which every worker served requests and the two arms' ranges are apart."""
    on_all = [r for r in runs if r.preload]
    off_all = [r for r in runs if not r.preload]
    on = tuple(r for r in on_all if r.all_busy)
    off = tuple(r for r in off_all if r.all_busy)
    idle = [r for r in on_all + off_all if not r.all_busy]
    idle_text = "; ".join(f"{r.label} ({'preload' if r.preload else 'no preload'}): worker(s) "
                          f"{', '.join(map(str, r.idle_workers))} served no request" for r in idle)

    def cannot(why: str) -> Comparison:
        return Comparison("could not tell", why + (f" ({idle_text}, left out)" if idle_text else ""), on, off)

    if len(on) < MIN_RUNS or len(off) < MIN_RUNS:
        return cannot(f"needs {MIN_RUNS} runs per arm in which every worker served requests; have "
                      f"{len(on)} with preload and {len(off)} without")
    a = [x for r in on if (x := r.per_busy_worker("pss")) is not None]
    b = [x for r in off if (x := r.per_busy_worker("pss")) is not None]
    if len(a) < MIN_RUNS or len(b) < MIN_RUNS:
        return cannot("PSS could not be read for every busy worker (smaps not readable)")
    line = (f"PSS per busy worker {statistics.median(a) / MB:.0f} MB with preload (runs {min(a) / MB:.0f}–"
            f"{max(a) / MB:.0f}) vs {statistics.median(b) / MB:.0f} MB without ({min(b) / MB:.0f}–{max(b) / MB:.0f}), "
            f"{len(a)} and {len(b)} runs")
    if max(a) + NOISE_FLOOR <= min(b):
        return Comparison("saves", f"{line}: preload saves {(statistics.median(b) - statistics.median(a)) / MB:.0f} MB "
                                   "per busy worker", on, off)
    if max(b) + NOISE_FLOOR <= min(a):
        return Comparison("costs", f"{line}: preload costs {(statistics.median(a) - statistics.median(b)) / MB:.0f} MB "
                                   "per busy worker", on, off)
    if max(a + b) - min(a + b) < NOISE_FLOOR:
        return Comparison("no difference", f"{line}: every run within the {NOISE_FLOOR / MB:.0f} MB noise floor", on, off)
    return cannot(f"{line}: the ranges overlap")
