"""A job's rows as the Batch page's per-file status table, and its outputs as (name, bytes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..memory import MB
from .manifest import ManifestRow


def status(row: ManifestRow, fresh: bool) -> str:
    """The serial table's statuses: a result not computed now (cache, earlier run) is a hit."""
    return "error" if not row.ok else "cache hit" if row.cached or not fresh else "ok"


def status_row(row: ManifestRow, fresh: bool) -> dict:
    """The serial Batch table's columns; RSS is the peak of the actor that ran the item, plus its worker."""
    return {"#": row.index + 1, "file": row.input, "status": status(row, fresh), "reason": row.reason,
            "output": row.output, "size": f"{row.width}×{row.height}" if row.width else "",
            "time (ms)": round(row.seconds * 1000), "RSS (MB)": round(row.peak_rss / MB, 1), "worker": row.worker}


def outputs(rows: Iterable[ManifestRow], out: Path) -> Iterator[tuple[str, bytes]]:
    """(output name, bytes) of every finished row, in input order, read one at a time."""
    for row in sorted(rows, key=lambda r: r.index):
        if row.ok:
            yield row.output, (Path(out) / row.output).read_bytes()
