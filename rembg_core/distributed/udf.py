"""The class-based UDF for `Dataset.map_batches`: one model session per Ray actor.

Ray builds the class once per actor (the session loads once, as "one session per worker"
asks) and calls it with batches of `Source` rows. Each row goes through the serial batch's own
per-item engine (`batch.Engine`: the same loading limits, pipeline, compose and PNG encoder),
so the bytes match the serial batch's. Nothing raises per item: a bad file comes back as a row
with a one-line reason, and the job goes on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..batch import BatchItem, BatchLimits, RemoveOptions
from ..batch.cache import DEFAULT_MAX_BYTES, ResultCache, cache_key
from ..batch.engine import Engine, Work, failure_reason
from ..memory import peak_rss
from ..session import SessionConfig, get_session
from .sources import Source, read_source

# columns of every result batch (the driver turns each row into a ManifestRow)
RESULT_COLUMNS = ("index", "status", "reason", "key", "data", "cached", "seconds", "timings", "width", "height",
                  "in_bytes", "worker", "peak_rss")
DONE = "done"  # finished by an earlier run: no work, no bytes


def _worker_label() -> str:
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # outside Ray (a unit test calling the class directly)
        node = "local"
    return f"{node}/{os.getpid()}"


class RemoveUDF:
    """Holds one session for the actor's life; `__call__` processes one batch of rows."""

    def __init__(self, config: SessionConfig, options: RemoveOptions, limits: BatchLimits = BatchLimits(),
                 done_keys: frozenset[str] = frozenset(), cache_dir: str | None = None,
                 cache_max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        session = get_session(config)  # ModelError here fails the actor, and so the job, before any item
        cache = ResultCache(cache_dir, cache_max_bytes) if cache_dir else None
        self.engine = Engine(session, options, cache, limits, gauge=None)
        self.options = options
        self.limits = limits
        self.done_keys = done_keys
        self.worker = _worker_label()

    def __call__(self, batch: Mapping[str, Sequence[Any]]) -> dict[str, list]:
        out: dict[str, list] = {c: [] for c in RESULT_COLUMNS}
        for i in range(len(batch["index"])):
            fields = {k: plain(batch[k][i]) for k in Source.__dataclass_fields__}
            if not isinstance(fields["data"], (bytes, bytearray)):
                fields["data"] = None  # a column of only None comes as NaN floats
            source = Source(**fields)
            for column, value in self.process(source).items():
                out[column].append(value)
        return out

    def process(self, source: Source) -> dict[str, Any]:
        row: dict[str, Any] = dict(index=source.index, status="error", reason="", key="", data=None, cached=False, peak_rss=0,
                                   seconds=0.0, timings="{}", width=0, height=0, in_bytes=0, worker=self.worker)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        item = BatchItem(source.name, source.rel, refused=source.refused or None, in_archive=bool(source.member))
        if not source.refused:
            try:
                data = read_source(source, self.limits)
            except Exception as exc:  # one unreadable input must not stop the others
                item = BatchItem(source.name, source.rel, refused=failure_reason(exc))
            else:
                timings["read"] = time.perf_counter() - t0
                row["in_bytes"] = len(data)
                row["key"] = cache_key(data, self.options, self.engine.model_checksum)
                if row["key"] in self.done_keys:
                    row.update(status=DONE, peak_rss=peak_rss())
                    return row
                item = BatchItem(source.name, source.rel, read=lambda: data, in_archive=bool(source.member))
        w = self.engine.finish(self.engine.infer(self.engine.prepare(Work(source.index, item))))
        timings.update(w.timings)
        row.update(status="ok" if w.error is None else "error", reason=w.error or "",
                   data=w.data if w.error is None else None, cached=w.cached,
                   seconds=time.perf_counter() - t0, timings=json.dumps(timings),
                   width=w.size[0] if w.size else 0, height=w.size[1] if w.size else 0, peak_rss=peak_rss())
        return row


def plain(value: Any) -> Any:
    """numpy scalars and 0-d arrays from a numpy batch → Python values."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value
