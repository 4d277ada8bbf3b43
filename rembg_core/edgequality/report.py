"""What an edge-quality run says: per-mode rows, and paired comparisons with a verdict the samples
can carry (a one-sided sign test over the composites for quality, non-overlapping round ranges
for time and memory; otherwise "could not tell")."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from math import comb

from ..memory import MB
from .modes import MODES, PAIRS
from .records import EdgesRun, ModeResult

SIGN_TEST_ALPHA = 0.05
TIE = 0.02  # means within 2 % of each other are "about the same"
BAND_FIGURES = ("band.sad", "band.mse", "band.grad", "band.conn", "band.composite")


@dataclass(frozen=True)
class Comparison:
    ours: str
    theirs: str
    figure: str  # "band.sad", ..., or "time" / "peak"
    ours_value: float
    theirs_value: float
    lower_in: int  # composites (or rounds) where ours is lower
    n: int
    verdict: str  # "lower", "higher", "about the same", "could not tell"

    @property
    def ratio(self) -> float | None:
        return self.ours_value / self.theirs_value if self.theirs_value else None

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def sign_test_p(k: int, n: int) -> float:
    """P(at least k of n pairs favour one side | no difference): one-sided binomial(n, ½)."""
    return sum(comb(n, i) for i in range(k, n + 1)) / 2 ** n if n else 1.0


def _quality(a: ModeResult, b: ModeResult, figure: str) -> Comparison:
    region, name = figure.split(".")
    xs = [getattr(s, name) for s in getattr(a, region)]
    ys = [getattr(s, name) for s in getattr(b, region)]
    lower = sum(x < y for x, y in zip(xs, ys))
    higher = sum(x > y for x, y in zip(xs, ys))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    n = len(xs)
    if sign_test_p(lower, n) < SIGN_TEST_ALPHA and mx < my:
        verdict = "lower"
    elif sign_test_p(higher, n) < SIGN_TEST_ALPHA and mx > my:
        verdict = "higher"
    elif my and abs(mx / my - 1) <= TIE:
        verdict = "about the same"
    else:
        verdict = "could not tell"
    return Comparison(a.mode, b.mode, figure, mx, my, lower, n, verdict)


def _cost(a: ModeResult, b: ModeResult, figure: str) -> Comparison:
    xs = a.seconds if figure == "time" else a.growth
    ys = b.seconds if figure == "time" else b.growth
    n = min(len(xs), len(ys))
    lower = sum(x < y for x, y in zip(xs, ys))
    if n >= 3 and max(xs) < min(ys):
        verdict = "lower"
    elif n >= 3 and min(xs) > max(ys):
        verdict = "higher"
    else:
        verdict = "could not tell"
    return Comparison(a.mode, b.mode, figure, statistics.median(xs), statistics.median(ys), lower, n, verdict)


def comparisons(run: EdgesRun) -> list[Comparison]:
    out: list[Comparison] = []
    for ours, theirs, figures in PAIRS:
        a, b = run.result(ours), run.result(theirs)
        if a is None or b is None or not (a.ok and b.ok):
            continue
        out.extend(_quality(a, b, f) for f in figures)
        if MODES[theirs].impl == "rembg":  # time and memory only against the peer
            out.extend(_cost(a, b, f) for f in ("time", "peak"))
    return out


def _spread(values: list[float], scale: float, fmt: str) -> str:
    if not values:
        return "–"
    med = statistics.median(values) / scale
    if len(values) == 1:
        return f"{med:{fmt}}"
    return f"{med:{fmt}} [{min(values) / scale:{fmt}}–{max(values) / scale:{fmt}}]"


def rows(run: EdgesRun) -> list[dict]:
    """One row per mode, as the CLI and the page show them (strings, units in the headers)."""
    out = []
    for r in run.results:
        row = {"mode": r.mode, "time s/image": _spread(r.seconds, 1, ".2f"),
               "peak growth MB": _spread(r.growth, MB, ".0f")}
        for fig in BAND_FIGURES + ("whole.sad", "whole.composite"):
            v = r.mean(fig) if r.ok else None
            row[fig] = "–" if v is None else f"{v:.3f}" if not fig.endswith("composite") else f"{v:.2f}"
        row["note"] = r.reason
        out.append(row)
    return out


def table(run: EdgesRun) -> str:
    rs = rows(run)
    if not rs:
        return "(no modes)"
    keys = [k for k in rs[0] if k != "note"]
    widths = {k: max(len(k), *(len(str(r[k])) for r in rs)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    for r in rs:
        lines.append("  ".join(str(r[k]).ljust(widths[k]) for k in keys) + (f"  ({r['note']})" if r["note"] else ""))
    comps = comparisons(run)
    if comps:
        lines.append("")
        for c in comps:
            ratio = f"{c.ratio:.2f}x" if c.ratio is not None else "–"
            lines.append(f"{c.ours} vs {c.theirs}, {c.figure}: {ratio} ({c.verdict}; ours lower in "
                         f"{c.lower_in} of {c.n} {'rounds' if c.figure in ('time', 'peak') else 'composites'})")
    return "\n".join(lines)


def to_dict(run: EdgesRun) -> dict:
    """The run as saved (JSON): scores, times, provenance, units and the comparisons."""
    return {**run.to_dict(), "comparisons": [c.to_dict() for c in comparisons(run)]}
