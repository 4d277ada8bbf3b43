"""An RSS timeline with stage marks, sampled on a background thread (the primitives live in rembg_core.memory)."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from ..memory import MemoryFigures, read_hwm, reset_peak

# --- sampling -----------------------------------------------------------------
# A background thread reads RSS every few milliseconds while code runs; stage marks line the
# samples up with what the code was doing. psutil's memory_info() on Linux is one read of
# /proc/self/statm (~20 µs), so a 5 ms interval costs well under 1 % of a core.

PHASES = ("start", "end", "point")


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the sampler started
    rss: int  # bytes
    py_heap: int | None = None  # tracemalloc's traced bytes (Python objects + numpy buffers), when asked


@dataclass(frozen=True)
class Mark:
    t: float  # seconds since the sampler started
    label: str  # stage: load, preprocess, session, inference, postprocess, compose, encode, ...
    phase: str = "point"  # "start" | "end" | "point"


@dataclass(frozen=True)
class MemoryTrace(MemoryFigures):
    """What RSS did over one measured stretch of code: its before / peak / after (MemoryFigures, whose
    retained, growth and release ratio it inherits) and the timeline behind them.

    `peak` is the highest RSS seen: the sampled maximum, raised to the kernel's high-water mark
    (VmHWM) when that could be reset at the start, so a spike between two samples still counts.
    """

    samples: tuple[Sample, ...]
    marks: tuple[Mark, ...]
    duration: float
    interval: float
    exact_peak: bool = False  # peak includes the kernel high-water mark (not just samples)
    py_heap_peak: int | None = None  # tracemalloc's peak over the stretch, when python_heap=True

    @property
    def native_peak(self) -> int | None:
        """Peak RSS not explained by the Python heap (ORT arena, Pillow, libraries), when traced."""
        if self.py_heap_peak is None:
            return None
        return max(0, self.peak - self.py_heap_peak)

    def spans(self) -> list[tuple[str, float, float]]:
        """(label, start, end) for every matched start/end pair of marks, in start order."""
        open_: dict[str, list[float]] = {}
        out: list[tuple[str, float, float]] = []
        for m in self.marks:
            if m.phase == "start":
                open_.setdefault(m.label, []).append(m.t)
            elif m.phase == "end" and open_.get(m.label):
                out.append((m.label, open_[m.label].pop(), m.t))
        return sorted(out, key=lambda s: s[1])

    def stage_peaks(self) -> dict[str, int]:
        """Highest sampled RSS inside each stage (over all its spans); stages with no sample are left out."""
        peaks: dict[str, int] = {}
        for label, t0, t1 in self.spans():
            inside = [s.rss for s in self.samples if t0 <= s.t <= t1]
            if inside:
                peaks[label] = max(peaks.get(label, 0), max(inside))
        return peaks

    def stage_seconds(self) -> dict[str, float]:
        """Total time in each stage, from the marks."""
        out: dict[str, float] = {}
        for label, t0, t1 in self.spans():
            out[label] = out.get(label, 0.0) + (t1 - t0)
        return out

    def to_dict(self) -> dict:
        return {
            **MemoryFigures.to_dict(self),
            "duration": self.duration, "interval": self.interval, "exact_peak": self.exact_peak,
            "py_heap_peak": self.py_heap_peak,
            "samples": [[s.t, s.rss] if s.py_heap is None else [s.t, s.rss, s.py_heap] for s in self.samples],
            "marks": [[m.t, m.label, m.phase] for m in self.marks],
        }

    @classmethod
    def from_dict(cls, d: dict) -> MemoryTrace:
        return cls(
            samples=tuple(Sample(*s) for s in d.get("samples", ())),
            marks=tuple(Mark(*m) for m in d.get("marks", ())),
            before=int(d["before"]), after=int(d["after"]), peak=int(d["peak"]),
            duration=float(d.get("duration", 0.0)), interval=float(d.get("interval", 0.0)),
            exact_peak=bool(d.get("exact_peak", False)), py_heap_peak=d.get("py_heap_peak"),
        )


class RssSampler:
    """Samples this process's RSS on a background thread, with labelled stage marks.

        with RssSampler(interval=0.005) as sampler:
            remove(data, on_stage=sampler.mark)   # or sampler.mark("encode", "start") ...
        sampler.trace.peak, sampler.trace.retained, sampler.trace.release_ratio

    `python_heap=True` also records tracemalloc's traced size (started if it is not running,
    stopped again afterwards) so the Python heap can be told apart from native memory; it
    slows allocation-heavy Python code, so it is off by default.
    """

    def __init__(self, interval: float = 0.005, python_heap: bool = False, exact_peak: bool = True) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.python_heap = python_heap
        self.exact_peak = exact_peak
        self._proc = psutil.Process()
        self._samples: list[Sample] = []
        self._marks: list[Mark] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._before = 0
        self._hwm_reset = False
        self._started_tracemalloc = False
        self._trace: MemoryTrace | None = None

    # -- lifecycle
    def start(self) -> RssSampler:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        if self.python_heap and not tracemalloc.is_tracing():
            tracemalloc.start()
            self._started_tracemalloc = True
        if self.python_heap:
            tracemalloc.reset_peak()
        self._hwm_reset = self.exact_peak and reset_peak()
        self._t0 = time.perf_counter()
        self._before = self._proc.memory_info().rss
        self._samples.append(Sample(0.0, self._before, self._py_heap()))
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> MemoryTrace:
        if self._trace is not None:
            return self._trace
        if self._thread is None:
            raise RuntimeError("sampler was never started")
        self._stop.set()
        self._thread.join()
        after = self._proc.memory_info().rss
        t_end = time.perf_counter() - self._t0
        py_peak = None
        if self.python_heap:
            py_peak = tracemalloc.get_traced_memory()[1]
        with self._lock:
            self._samples.append(Sample(t_end, after, self._py_heap()))
            samples, marks = tuple(self._samples), tuple(self._marks)
        if self._started_tracemalloc:
            tracemalloc.stop()
        peak = max(s.rss for s in samples)
        hwm = read_hwm() if self._hwm_reset else None
        if hwm is not None:
            peak = max(peak, hwm)
        self._trace = MemoryTrace(before=self._before, peak=peak, after=after, samples=samples, marks=marks,
                                  duration=t_end, interval=self.interval, exact_peak=hwm is not None,
                                  py_heap_peak=py_peak)
        return self._trace

    def __enter__(self) -> RssSampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- recording
    def now(self) -> float:
        """Seconds since the sampler started."""
        return time.perf_counter() - self._t0

    def mark(self, label: str, phase: str = "point") -> None:
        """Record a stage boundary. Signature fits pipeline.remove's on_stage hook: on_stage=sampler.mark.

        Also takes a sample right away, so short stages still show up in the timeline.
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}")
        rss_now = self._proc.memory_info().rss
        with self._lock:  # stamped under the lock, so samples from both threads stay in time order
            t = self.now()
            self._marks.append(Mark(t, label, phase))
            self._samples.append(Sample(t, rss_now, self._py_heap()))

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        """`with sampler.stage("encode"): ...` marks start and end."""
        self.mark(label, "start")
        try:
            yield
        finally:
            self.mark(label, "end")

    @property
    def trace(self) -> MemoryTrace:
        """The finished trace (stops the sampler if it is still running)."""
        return self.stop()

    def sample_count(self) -> int:
        """Samples taken so far (while running)."""
        with self._lock:
            return len(self._samples)

    def current_peak(self) -> int:
        """Highest RSS sampled so far (while running)."""
        with self._lock:
            return max((s.rss for s in self._samples), default=0)

    def _py_heap(self) -> int | None:
        return tracemalloc.get_traced_memory()[0] if self.python_heap else None

    def _run(self) -> None:
        proc, interval = self._proc, self.interval
        while not self._stop.wait(interval):
            try:
                rss_now = proc.memory_info().rss
            except psutil.Error:  # process is going away
                return
            with self._lock:
                self._samples.append(Sample(self.now(), rss_now, self._py_heap()))
