"""Memory Lab's runs as data: one run in this process or in a fresh one, and fair comparisons.

A comparison only pairs runs made on the same image, with the same `max_size` and repeats,
isolated both, that differ in the one flag being compared; anything else is said to be
not comparable instead of being shown side by side.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..allocator import AllocatorChoice
from ..measure import noise
from ..measure.analysis import MIN_RUNS, median_interval
from ..measure.arena import arena_by_pair, with_arena
from ..measure.configs import ProbeConfig
from ..measure.layers import LayerSplit
from ..measure.records import SPREAD_WARN
from ..measure.runner import run_isolated
from ..measure.sampling import MemoryTrace, RssSampler
from ..memory import MB, MemoryFigures
from ..options import RemoveOptions
from ..pipeline import remove
from ..session import ModelSession, SessionConfig

Mode = Literal["in-process", "isolated"]
FLAGS = ("enable_cpu_mem_arena", "enable_mem_pattern", "arena_shrinkage", "intra_op_num_threads")


@dataclass(frozen=True)
class LabRun:
    """One row of the history: what was run, where, and what RSS did."""

    number: int
    mode: Mode
    image: str  # the image's name as the user knows it
    image_id: str  # identity of its bytes: runs compare only on the same one
    config: SessionConfig
    max_size: int | None
    repeats: int
    latencies: tuple[float, ...]
    # before: in-process, RSS when the run began; isolated, the child's RSS with the model loaded
    memory: MemoryFigures
    trace: MemoryTrace | None = field(default=None, compare=False, repr=False)
    note: str = ""
    before_t: float = 0.0  # where `before` sits on the trace's time axis (isolated: after the model loaded)
    allocator: str = ""  # isolated: the malloc the child verified it runs; in-process: the server's
    layers: LayerSplit | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"#{self.number} {self.mode}: {self.config.flags_label}"

    @property
    def latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    def row(self) -> dict:
        m = self.memory
        return {
            "run": self.number, "where": self.mode, "flags": self.config.flags_label,
            "max_size": self.max_size or "no cap", "images": self.repeats,
            "median s": f"{self.latency:.3f}" if self.latency is not None else noise.DASH,
            "peak MB": round(m.peak / MB), "retained MB": noise.retained(m.before, m.after).text,
            "released": noise.release(m.before, m.peak, m.after).text,
            "allocator": self.allocator or noise.DASH,
            "before MB": round(m.before / MB), "after MB": round(m.after / MB),
            "image": self.image, "note": self.note,
        }


@dataclass(frozen=True)
class IsolatedFailure:
    reason: str  # one line, as every other page shows it


def isolated(number: int, image: str | Path, name: str, image_id: str, config: SessionConfig,
             max_size: int | None, repeats: int, allocator: AllocatorChoice = AllocatorChoice(),
             split_layers: bool = False) -> LabRun | IsolatedFailure:
    """Model load, two warm-ups (the pattern allocates on the second), then `repeats`, in a fresh child
    running `allocator` (verified there). `split_layers`: the child also splits its RSS into layers, and
    a second child with the arena off measures the arena layer."""
    probe = ProbeConfig(config, allocator=allocator)
    record = run_isolated(probe, image, max_size=max_size, repeats=repeats, warmups=2, layers=split_layers)
    if not record.ok:
        return IsolatedFailure(record.reason)
    note = ""
    if record.spread is not None and record.spread >= SPREAD_WARN:
        note = (f"latency spread {noise.percent(record.spread)}: the machine was busy, so latencies of this run "
                "cannot be compared (memory figures are steadier)")
    split = record.layers
    if split is not None and config.enable_cpu_mem_arena:
        arena = arena_by_pair(config, image, max_size, repeats)
        split = with_arena(split, arena)
    loaded_at = next((t1 for label, _, t1 in record.trace.spans() if label == "session"), 0.0) if record.trace else 0.0
    return LabRun(number, "isolated", name, image_id, config, max_size, repeats, record.latencies,
                  record.memory, record.trace, note, loaded_at,
                  record.meta.get("allocator", {}).get("verified", allocator.label), split)


class InProcessRun:
    """`repeats` removals on a shared session in a worker thread, RSS sampled, so a caller can draw
    live figures while it runs: `start()`, poll `alive`/`done`, then `result()`."""

    def __init__(self, session: ModelSession, data: bytes, max_size: int | None, repeats: int) -> None:
        self.session, self.data, self.max_size, self.repeats = session, data, max_size, repeats
        self.latencies: list[float] = []
        self.error: BaseException | None = None
        self.sampler = RssSampler(interval=0.005)
        self._thread = threading.Thread(target=self._work, name="lab-run", daemon=True)

    def _work(self) -> None:
        try:
            for _ in range(self.repeats):
                t0 = time.perf_counter()
                remove(self.data, session=self.session, options=RemoveOptions(max_size=self.max_size), on_stage=self.sampler.mark)
                self.latencies.append(time.perf_counter() - t0)
        except BaseException as exc:  # handed to the caller's thread by result()
            self.error = exc

    def start(self) -> InProcessRun:
        self.sampler.start()
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def done(self) -> int:
        return len(self.latencies)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def result(self, number: int, name: str, image_id: str) -> LabRun:
        self._thread.join()
        trace = self.sampler.stop()
        if self.error is not None:
            raise self.error
        return LabRun(number, "in-process", name, image_id, self.session.config, self.max_size, self.repeats,
                      tuple(self.latencies), MemoryFigures(trace.before, trace.peak, trace.after), trace)


def _differs_only_in(a: SessionConfig, b: SessionConfig, flag: str) -> bool:
    return getattr(a, flag) != getattr(b, flag) and all(getattr(a, f) == getattr(b, f) for f in FLAGS if f != flag)


def same_conditions(a: LabRun, b: LabRun) -> str | None:
    """None when a and b can be compared; otherwise what differs, in words."""
    if a.mode != "isolated" or b.mode != "isolated":
        return "in-process runs start from whatever the server already holds"
    diffs = [what for what, x, y in (("image", a.image_id, b.image_id), ("max_size", a.max_size, b.max_size),
                                     ("images per run", a.repeats, b.repeats),
                                     ("allocator", a.allocator, b.allocator)) if x != y]
    return f"different {', '.join(diffs)}" if diffs else None


def measured_effect(runs: list[LabRun], flag: str, name: str) -> str | None:
    """The latest pair of isolated runs that differ only in `flag`, compared, or why none can be.
    None when the history holds no pair differing in `flag` at all."""
    iso = [r for r in reversed(runs) if r.mode == "isolated" and r.latencies]
    pairs = [(a, b) for i, a in enumerate(iso) for b in iso[i + 1:] if _differs_only_in(a.config, b.config, flag)]
    fair = [(a, b) for a, b in pairs if same_conditions(a, b) is None]
    if not fair:
        if not pairs:
            return None
        a, b = pairs[0]
        return (f"Can't compare runs #{b.number} and #{a.number} for {name}: {same_conditions(a, b)}. "
                "Run both on the same image, max_size and images per run.")
    a, b = fair[0]
    on, off = (a, b) if getattr(a.config, flag) else (b, a)
    return (f"Measured here (isolated runs #{on.number} vs #{off.number}, {on.image}, "
            f"{'no cap' if on.max_size is None else f'{on.max_size} px'}, {on.repeats} image(s)): "
            f"on → peak {on.memory.peak / MB:.0f} MB, retained {noise.retained(on.memory.before, on.memory.after).text}; "
            f"off → peak {off.memory.peak / MB:.0f} MB, retained {noise.retained(off.memory.before, off.memory.after).text}. "
            f"Speed: {speed_verdict(on, off)}.")


def speed_verdict(on: LabRun, off: LabRun) -> str:
    """Which of two runs is faster, only when their timings can say so; otherwise "could not tell" and why."""
    figures = f"medians {on.latency:.3f} s on vs {off.latency:.3f} s off"
    busy = [r for r in (on, off) if r.note]
    if busy:
        return f"could not tell ({figures}; run #{busy[0].number} was measured on a busy machine)"
    if min(len(on.latencies), len(off.latencies)) < MIN_RUNS:
        return f"could not tell ({figures}; an interval needs {MIN_RUNS} images per run)"
    a, b = median_interval(on.latencies), median_interval(off.latencies)
    if a[1] < b[0]:
        return f"on is faster ({figures}, 95 % intervals apart)"
    if b[1] < a[0]:
        return f"off is faster ({figures}, 95 % intervals apart)"
    return f"could not tell ({figures}; the intervals overlap)"
