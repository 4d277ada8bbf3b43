"""Rows for the dashboard's tables, made from the library's records (the pages only draw them)."""

from __future__ import annotations

from ..batch.engine import ItemResult
from ..memory import MB
from .serving import LabRecord


def batch_row(r: ItemResult) -> dict:
    """One item of a local batch, in the columns of the Ray engine's rows (distributed.report.status_row)."""
    return {"#": r.index + 1, "file": r.name, "status": r.status, "reason": r.error or "",
            "output": r.output_name or "", "size": f"{r.size[0]}×{r.size[1]}" if r.size else "",
            "time (ms)": round(r.seconds * 1000), "RSS (MB)": round(r.rss / MB, 1)}


def serving_row(rec: LabRecord) -> dict:
    """One Serving Lab run in short columns (the server's whole label is in the run's heading)."""
    row, c = rec.row(), rec.server.config
    return {"run": rec.number, "workers": rec.server.workers, "preload": "on" if rec.server.preload else "off",
            "K/Q": f"{c.max_inflight}/{c.max_queue}", "clients": row["clients"], "requests": row["requests"],
            "per worker": row["requests per worker"], "ok/s": row["ok/s"], "p50 s": row["p50 s"], "p95 s": row["p95 s"], "p99 s": row["p99 s"],
            "status": row["status"] + (" (stopped)" if rec.stopped else ""), "peak PSS MB": row["peak tree PSS MB"],
            "end PSS MB": row["end tree PSS MB"]}
