"""Measured results as data: one child's record, and its JSON form (schema-versioned)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ..memory import MemoryFigures
from .configs import ProbeConfig
from .layers import LayerSplit
from .sampling import MemoryTrace

SCHEMA = "rembg-lab/bench/2"
SPREAD_WARN = 0.10  # (max - min) / median of the repeats


def _flat(memory: MemoryFigures) -> dict:
    """A record's figures as saved: the before reading is called "baseline" (RSS with the model loaded)."""
    d = memory.to_dict()
    d["baseline"] = d.pop("before")
    return d


def _figures(d: dict) -> MemoryFigures:
    return MemoryFigures(int(d.get("baseline", 0)), int(d.get("peak", 0)), int(d.get("after", 0)))


@dataclass(frozen=True)
class ProbeRecord:
    """One configuration measured in one fresh child process.

    RSS figures are bytes. `memory.before` (saved as "baseline") is RSS after the session loaded and
    before any image; `memory.after` is RSS after the last repeat; `memory.peak` is the kernel's
    high-water mark of the child (memory.peak_rss).
    """

    config: ProbeConfig
    image: str
    ok: bool
    reason: str = ""
    max_size: int | None = None
    repeats: int = 0
    warmups: int = 0
    latencies: tuple[float, ...] = ()  # seconds, bytes in → RGBA image out, per measured repeat
    stages: dict[str, float] = field(default_factory=dict, compare=False)  # median seconds per stage
    start_rss: int = 0  # after imports, before the session
    memory: MemoryFigures = MemoryFigures(0, 0, 0)
    after_trim: int = 0  # after gc + malloc_trim: what the process could give back without dropping the session
    free_held: int | None = None  # at `after`: freed memory glibc held resident (layers.free_held), None off glibc
    load_seconds: float = 0.0
    wall: float = 0.0  # the child's whole life, seconds
    returncode: int | None = None
    trace: MemoryTrace | None = field(default=None, compare=False, repr=False)
    meta: dict = field(default_factory=dict, compare=False, repr=False)
    layers: LayerSplit | None = field(default=None, compare=False, repr=False)  # when the child was asked to split

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def spread(self) -> float | None:
        """(max − min) / median of the repeats; ≥ 0.10 means the figures are shaky."""
        if len(self.latencies) < 2:
            return None
        return (max(self.latencies) - min(self.latencies)) / statistics.median(self.latencies)

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(), "image": self.image, "ok": self.ok, "reason": self.reason,
            "max_size": self.max_size, "repeats": self.repeats, "warmups": self.warmups,
            "latencies": list(self.latencies), "median_latency": self.median_latency, "spread": self.spread,
            "stages": dict(self.stages), "start_rss": self.start_rss, **_flat(self.memory),
            "after_trim": self.after_trim, "free_held": self.free_held, "load_seconds": self.load_seconds,
            "wall": self.wall, "returncode": self.returncode,
            "trace": self.trace.to_dict() if self.trace else None, "meta": self.meta,
            "layers": self.layers.to_dict() if self.layers else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ProbeRecord:
        return cls(
            config=ProbeConfig.from_dict(d["config"]), image=d["image"], ok=bool(d["ok"]),
            reason=d.get("reason", ""), max_size=d.get("max_size"), repeats=int(d.get("repeats", 0)),
            warmups=int(d.get("warmups", 0)), latencies=tuple(d.get("latencies", ())),
            stages=dict(d.get("stages") or {}), start_rss=int(d.get("start_rss", 0)),
            memory=_figures(d), after_trim=int(d.get("after_trim", 0)), free_held=d.get("free_held"),
            load_seconds=float(d.get("load_seconds", 0.0)), wall=float(d.get("wall", 0.0)),
            returncode=d.get("returncode"),
            trace=MemoryTrace.from_dict(d["trace"]) if d.get("trace") else None, meta=dict(d.get("meta") or {}),
            layers=LayerSplit.from_dict(d["layers"]) if d.get("layers") else None,
        )


@dataclass(frozen=True)
class IdleRecord:
    """A burst through IdleReleaser, an idle stretch past its limit, then one more request."""

    config: ProbeConfig
    image: str
    ok: bool
    reason: str = ""
    idle_after: float = 0.0
    idle_wait: float = 0.0
    latencies: tuple[float, ...] = ()  # the burst
    first_after_idle: float = 0.0  # includes re-creating the session
    baseline: int = 0
    busy_rss: int = 0  # at the end of the burst
    idle_rss: int = 0  # after idling past the limit
    peak: int = 0
    releases: int = 0
    trace: MemoryTrace | None = field(default=None, compare=False, repr=False)
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def burst_latency(self) -> float | None:
        """Median of the burst after its first request (which builds the session)."""
        steady = self.latencies[2:] or self.latencies
        return statistics.median(steady) if steady else None

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "image": self.image, "ok": self.ok, "reason": self.reason,
                "idle_after": self.idle_after, "idle_wait": self.idle_wait, "latencies": list(self.latencies),
                "burst_latency": self.burst_latency, "first_after_idle": self.first_after_idle,
                "baseline": self.baseline, "busy_rss": self.busy_rss, "idle_rss": self.idle_rss,
                "peak": self.peak, "releases": self.releases,
                "trace": self.trace.to_dict() if self.trace else None, "meta": self.meta}
