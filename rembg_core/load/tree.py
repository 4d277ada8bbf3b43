"""Memory of a server's whole process tree over time: RSS, USS and PSS per process.

RSS counts shared pages (the code a preloaded master shares with its forks) once per process, so
the sum of RSS over-counts a forked server; PSS splits each shared page between its sharers (the
sum of PSS is the tree's true footprint) and USS is what each process alone would free on exit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcMemory:
    pid: int
    role: str  # "master" or "worker"
    rss: int
    uss: int | None  # None when smaps cannot be read (or full=False)
    pss: int | None


@dataclass(frozen=True)
class TreeSample:
    t: float  # seconds since the sampler started
    procs: tuple[ProcMemory, ...]

    @property
    def rss(self) -> int:
        return sum(p.rss for p in self.procs)

    @property
    def pss(self) -> int | None:
        values = [p.pss for p in self.procs if p.pss is not None]
        return sum(values) if values and len(values) == len(self.procs) else None


def measure(root_pid: int, full: bool = True) -> TreeSample:
    """One reading of the root and all its descendants; full=True also reads USS/PSS (slower)."""
    procs = []
    try:
        root = psutil.Process(root_pid)
        family = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for proc in family:
        try:
            if full:
                info = proc.memory_full_info()
                procs.append(ProcMemory(proc.pid, "master" if proc.pid == root_pid else "worker",
                                        info.rss, info.uss, getattr(info, "pss", None)))
            else:
                procs.append(ProcMemory(proc.pid, "master" if proc.pid == root_pid else "worker",
                                        proc.memory_info().rss, None, None))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return TreeSample(0.0, tuple(procs))


class TreeSampler:
    """Samples a process tree every `interval` seconds in a thread; `samples()` at any time."""

    def __init__(self, root_pid: int, interval: float = 0.5, full: bool = True) -> None:
        self.root_pid, self.interval, self.full = root_pid, interval, full
        self._samples: list[TreeSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            sample = measure(self.root_pid, self.full)
            sample = TreeSample(time.monotonic() - self._t0, sample.procs)
            with self._lock:
                self._samples.append(sample)
            self._stop.wait(self.interval)

    def samples(self) -> list[TreeSample]:
        with self._lock:
            return list(self._samples)

    def peak_rss(self, since: float = 0.0) -> int:
        return max((s.rss for s in self.samples() if s.t >= since), default=0)

    def stop(self) -> list[TreeSample]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.samples()

    def __enter__(self) -> TreeSampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
