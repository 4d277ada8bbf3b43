"""What a claims check measured and concluded, as data that round-trips through JSON.

A `TrialRecord` is one fresh child's figures; a `ClaimResult` is one claim's verdict with the
figures it rests on and the records they came from; a `ClaimsRun` is all of them plus where, when,
on which machine and by which command they were made. A saved run that lacks those is refused.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..measure.analysis import median_interval

SCHEMA = "rembg-lab/claims/1"
Verdict = Literal["holds", "partly", "does not hold", "could not tell"]
VERDICTS: tuple[Verdict, ...] = ("holds", "partly", "does not hold", "could not tell")
REQUIRED_META = ("when", "where", "machine", "command")


@dataclass(frozen=True)
class TrialRecord:
    """One fresh process measuring one variant of one claim's test.

    `values` holds what the child measured: RSS figures in bytes, times in seconds, per-item lists.
    """

    kind: str  # which measurement: "probe", "sessions", "stream", "pillow", "cache"
    variant: str  # which side of the comparison, e.g. "arena off, pattern off", "shared", "no close"
    round: int
    ok: bool
    reason: str = ""
    image: str = ""  # the input's file name (never a full path)
    values: dict = field(default_factory=dict, compare=False)
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "variant": self.variant, "round": self.round, "ok": self.ok,
                "reason": self.reason, "image": self.image, "values": self.values, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> TrialRecord:
        return cls(str(d["kind"]), str(d["variant"]), int(d["round"]), bool(d["ok"]), str(d.get("reason", "")),
                   str(d.get("image", "")), dict(d.get("values") or {}), dict(d.get("meta") or {}))


@dataclass(frozen=True)
class Figure:
    """A measured number: the median over runs, with its spread (95 % interval when the runs allow one)."""

    label: str
    value: float
    unit: str  # "MB", "s", "%", "×", "" (a count)
    low: float | None = None
    high: float | None = None
    runs: int = 1
    coverage: float = 0.0  # of [low, high] for the median; < 0.95 means it is only the range

    @property
    def text(self) -> str:
        out = f"{self.label}: {_fmt(self.value, self.unit)}"
        if self.runs > 1 and self.low is not None and self.high is not None:
            kind = "95 % interval" if self.coverage >= 0.95 else "range"
            out += f" ({kind} {_fmt(self.low, self.unit, False)}–{_fmt(self.high, self.unit)}, {self.runs} runs)"
        return out

    def to_dict(self) -> dict:
        return {"label": self.label, "value": self.value, "unit": self.unit, "low": self.low, "high": self.high,
                "runs": self.runs, "coverage": self.coverage}

    @classmethod
    def from_dict(cls, d: dict) -> Figure:
        return cls(d["label"], float(d["value"]), d.get("unit", ""), d.get("low"), d.get("high"),
                   int(d.get("runs", 1)), float(d.get("coverage", 0.0)))


def _fmt(value: float, unit: str, with_unit: bool = True) -> str:
    if unit == "%":
        text = f"{value * 100:.0f}"
    elif unit == "s":
        text = f"{value:.3f}"
    elif unit == "×":
        text = f"{value:.2f}"
    else:
        text = f"{value:.0f}" if abs(value) >= 10 or unit == "" else f"{value:.1f}"
    if not with_unit or not unit:
        return text
    return f"{text} %" if unit == "%" else f"{text}{unit}" if unit == "×" else f"{text} {unit}"


def figure(label: str, values: Sequence[float], unit: str, scale: float = 1.0) -> Figure | None:
    """Median and spread of `values` (divided by `scale`); None when there is nothing to show."""
    xs = [float(v) / scale for v in values if v is not None]
    if not xs:
        return None
    low, high, coverage = median_interval(xs)
    return Figure(label, statistics.median(xs), unit, low, high, len(xs), coverage)


@dataclass(frozen=True)
class ClaimResult:
    claim: str  # the claim's id in the catalog
    verdict: Verdict
    because: str  # one line: why this verdict, from the figures
    figures: tuple[Figure, ...] = ()
    records: tuple[TrialRecord, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")

    def to_dict(self) -> dict:
        return {"claim": self.claim, "verdict": self.verdict, "because": self.because,
                "figures": [f.to_dict() for f in self.figures], "records": [r.to_dict() for r in self.records]}

    @classmethod
    def from_dict(cls, d: dict) -> ClaimResult:
        return cls(d["claim"], d["verdict"], d.get("because", ""),
                   tuple(Figure.from_dict(f) for f in d.get("figures", ())),
                   tuple(TrialRecord.from_dict(r) for r in d.get("records", ())))


@dataclass(frozen=True)
class ClaimsRun:
    """Every claim's result plus `meta`: when (UTC), where (host), machine, command, settings."""

    results: tuple[ClaimResult, ...]
    meta: dict = field(default_factory=dict, compare=False)

    def result(self, claim: str) -> ClaimResult | None:
        return next((r for r in self.results if r.claim == claim), None)

    @property
    def provenance(self) -> str:
        """One line naming where, when and how this run was made."""
        m = self.meta
        load = m.get("loadavg_start")
        load_text = f", load average {load[0]:.2f}" if load else ""
        return (f"measured {m.get('when', '?')} on {m.get('where', '?')} ({m.get('machine', {}).get('summary', '?')}"
                f"{load_text}) by `{m.get('command', '?')}`")

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "meta": self.meta, "results": [r.to_dict() for r in self.results]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> ClaimsRun:
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ValueError(f"not a saved claims run (schema is not {SCHEMA!r})")
        meta = d.get("meta") or {}
        missing = [k for k in REQUIRED_META if not meta.get(k)]
        if missing:
            raise ValueError(f"the saved run does not say its {', '.join(missing)}")
        return cls(tuple(ClaimResult.from_dict(r) for r in d.get("results", ())), meta)


def load_run(source: str | bytes | Path) -> ClaimsRun:
    """A saved run from JSON text, bytes or a file path; ValueError (one line) when it is not one."""
    if isinstance(source, Path):
        source = source.read_bytes()
    try:
        data = json.loads(source)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    try:
        return ClaimsRun.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the saved run is incomplete (missing {exc})") from None
