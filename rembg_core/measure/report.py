"""A sweep as rows, a text table and CSV: what the CLI prints and the dashboard shows."""

from __future__ import annotations

import csv
import io

from ..memory import MB
from .sweep import SweepResult


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def rows(result: SweepResult) -> list[dict]:
    """One flat row per configuration (all its rounds together)."""
    out = []
    for s, p in zip(result.summaries, result.pareto):
        ci = s.interval
        out.append({
            "config": s.name, "ok": s.ok, "pareto": p, "runs": len(s.latencies),
            "median_s": _round(s.median_latency, 4),
            "ci_low_s": _round(ci[0], 4) if ci else None, "ci_high_s": _round(ci[1], 4) if ci else None,
            "spread": _round(s.spread, 3),
            "baseline_mb": round(s.baseline / MB, 1), "peak_mb": round(s.peak / MB, 1),
            "after_mb": round(s.after / MB, 1), "retained_mb": round(s.retained / MB, 1),
            "after_trim_mb": round(s.after_trim / MB, 1), "release_ratio": _round(s.release_ratio, 3),
            "reason": s.reason,
        })
    return out


def table(result: SweepResult) -> str:
    w = max([36] + [len(s.name) for s in result.summaries])
    head = (f"{'config':<{w}} {'s/image':>8} {'95% interval':>15} {'peak MB':>8} {'retained':>9} "
            f"{'release':>8}  pareto")
    lines = [head, "-" * len(head)]
    for row in rows(result):
        if not row["ok"]:
            lines.append(f"{row['config']:<{w}} failed: {row['reason']}")
            continue
        rr = "-" if row["release_ratio"] is None else f"{row['release_ratio']:.2f}"
        ci = f"{row['ci_low_s']:.3f}–{row['ci_high_s']:.3f}"
        lines.append(f"{row['config']:<{w}} {row['median_s']:>8.3f} {ci:>15} {row['peak_mb']:>8.0f} "
                     f"{row['retained_mb']:>9.0f} {rr:>8}  {'*' if row['pareto'] else ''}")
    return "\n".join(lines)


def to_csv(result: SweepResult) -> str:
    data = rows(result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(data[0]) if data else ["config"])
    writer.writeheader()
    writer.writerows(data)
    return buf.getvalue()
