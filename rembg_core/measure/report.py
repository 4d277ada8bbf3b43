"""A sweep as rows, a text table and CSV: what the CLI prints and the dashboard shows."""

from __future__ import annotations

import csv
import io

from ..memory import MB
from . import noise
from .analysis import MIN_COVERAGE
from .sweep import SweepResult


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def verified_allocator(records) -> str | None:
    """The allocator the children reported from their own /proc/self/maps (None for old records)."""
    seen = {str(r.meta.get("allocator", {}).get("verified")) for r in records if r.meta.get("allocator")}
    return ", ".join(sorted(seen)) if seen else None


def rows(result: SweepResult) -> list[dict]:
    """One flat row per configuration (all its rounds together). Column names carry the unit
    (s, mb, pct); an interval too unsure to separate configs (fewer than MIN_RUNS timings) is left
    empty rather than shown with zero width, and so is a memory figure within the noise floor."""
    out = []
    for s, p in zip(result.summaries, result.pareto):
        ci = s.interval
        sure = ci is not None and ci[2] >= MIN_COVERAGE and ci[1] > ci[0]
        rr = noise.release(int(s.baseline), int(s.peak), int(s.after)) if s.ok else None
        kept = noise.retained(int(s.baseline), int(s.after)) if s.ok else None
        out.append({
            "config": s.name, "ok": s.ok, "pareto": p, "runs": len(s.latencies),
            "median_s": _round(s.median_latency, 4),
            "ci_low_s": _round(ci[0], 4) if sure and ci else None, "ci_high_s": _round(ci[1], 4) if sure and ci else None,
            "ci_coverage_pct": _pct(ci[2]) if ci else None,
            "spread_pct": _pct(s.spread),
            "baseline_mb": round(s.baseline / MB, 1), "peak_mb": round(s.peak / MB, 1),
            "after_mb": round(s.after / MB, 1),
            "retained_mb": round(s.retained / MB, 1) if kept is not None and not kept.noise else None,
            "after_trim_mb": round(s.after_trim / MB, 1),
            "release_pct": _pct(rr.value) if rr is not None and not rr.noise else None,
            "allocator": verified_allocator(s.ok_records),
            "reason": s.reason or (rr.why if rr is not None and rr.noise else ""),
        })
    return out


def _cell(value: object, fmt: str = "{}") -> str:
    return noise.DASH if value is None else fmt.format(value)


def display_rows(result: SweepResult) -> list[dict]:
    """rows() for people: every cell a string, "–" where there is no figure (never "None")."""
    out = []
    for row in rows(result):
        ok = row["ok"]
        out.append({
            "config": row["config"], "runs": str(row["runs"]),
            "median_s": _cell(row["median_s"], "{:.3f}") if ok else "failed",
            "interval_s": (f"{row['ci_low_s']:.3f}–{row['ci_high_s']:.3f}" if row["ci_low_s"] is not None
                           else noise.DASH),
            "spread_pct": _cell(row["spread_pct"], "{:.0f} %"),
            "peak_mb": _cell(row["peak_mb"] if ok else None, "{:.0f}"),
            "retained_mb": _cell(row["retained_mb"] if ok else None, "{:+.0f}"),
            "release_pct": _cell(row["release_pct"] if ok else None, "{:.0f} %"),
            "allocator": row["allocator"] or noise.DASH,
            "pareto": bool(row["pareto"]), "note": row["reason"],
        })
    return out


def table(result: SweepResult) -> str:
    w = max([36] + [len(s.name) for s in result.summaries])
    head = (f"{'config':<{w}} {'s/image':>8} {'95% interval':>15} {'peak MB':>8} {'retained':>9} "
            f"{'release':>8}  {'verified allocator':<30} pareto")
    lines = [head, "-" * len(head)]
    for row in display_rows(result):
        if row["median_s"] == "failed":
            lines.append(f"{row['config']:<{w}} failed: {row['note']}")
            continue
        lines.append(f"{row['config']:<{w}} {row['median_s']:>8} {row['interval_s']:>15} {row['peak_mb']:>8} "
                     f"{row['retained_mb']:>9} {row['release_pct']:>8}  {row['allocator']:<30} "
                     f"{'*' if row['pareto'] else ''}")
    return "\n".join(lines)


def to_csv(result: SweepResult) -> str:
    data = rows(result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(data[0]) if data else ["config"])
    writer.writeheader()
    writer.writerows(data)
    return buf.getvalue()
