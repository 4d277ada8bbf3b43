"""What an edge-quality run produced: each child's times and peaks, each mode's scores per composite
(and its cutouts, kept in memory only), the run with its provenance."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from . import metrics
from .modes import MODES


@dataclass(frozen=True)
class ChildRun:
    mode: str
    round: int
    ok: bool
    reason: str = ""
    seconds: tuple[float, ...] = ()  # per composite
    growth: tuple[int, ...] = ()  # bytes, per composite
    wall: float = 0.0


@dataclass(frozen=True)
class ModeResult:
    mode: str
    ok: bool
    reason: str
    runs: tuple[ChildRun, ...]
    whole: tuple[metrics.Scores, ...] = ()  # per composite
    band: tuple[metrics.Scores, ...] = ()
    cutouts: tuple[bytes, ...] = field(default=(), repr=False)  # PNG per composite (not saved in JSON)

    def _per_round(self, key: Callable[[ChildRun], float]) -> list[float]:
        return [key(r) for r in self.runs if r.ok]

    @property
    def seconds(self) -> list[float]:
        """Per round: mean seconds per composite."""
        return self._per_round(lambda r: statistics.fmean(r.seconds))

    @property
    def growth(self) -> list[float]:
        """Per round: the largest peak growth over the composites, bytes."""
        return self._per_round(lambda r: float(max(r.growth)))

    def mean(self, figure: str) -> float | None:
        """'band.sad', 'whole.composite', ...: the mean over composites."""
        region, name = figure.split(".")
        values = [getattr(s, name) for s in getattr(self, region)]
        return statistics.fmean(values) if values else None

    def to_dict(self) -> dict:
        return {"mode": self.mode, "label": MODES[self.mode].label, "ok": self.ok, "reason": self.reason,
                "runs": [r.__dict__ for r in self.runs], "whole": [s.to_dict() for s in self.whole],
                "band": [s.to_dict() for s in self.band]}


@dataclass(frozen=True)
class EdgesRun:
    composites: tuple[str, ...]
    results: tuple[ModeResult, ...]
    meta: dict

    def result(self, mode: str) -> ModeResult | None:
        return next((r for r in self.results if r.mode == mode), None)

    def to_dict(self) -> dict:
        """The run without its cutouts; report.to_dict adds the comparisons."""
        return {"meta": self.meta, "composites": list(self.composites),
                "units": metrics.UNITS, "results": [r.to_dict() for r in self.results]}
