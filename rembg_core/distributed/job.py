"""A removal job on Ray Data: sources → actors → outputs under OUT + a manifest, resumable.

The driver expands the inputs (`sources.expand`), streams them through `map_batches(RemoveUDF)`
on an actor pool, and takes the results back in input order (Ray Data's `preserve_order`), so it
can name outputs exactly as the serial batch does: `OutputNames` sees the same successful items
in the same order. Each output is written atomically, then its manifest row is appended.

Resuming: an earlier run's manifest rows whose output still exists give a set of result-cache
keys (sha256(input) + options + model checksum). Actors read each input, compute its key, and
skip the work for keys in that set; the driver keeps the earlier row. A killed job rerun with
the same inputs and flags thus computes only the remainder.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..batch import BatchInput, BatchLimits, RemoveOptions
from ..errors import RembgCoreError
from ..naming import OutputNames
from ..session import SessionConfig
from .cluster import ClusterInfo, connect, require_ray
from .manifest import MANIFEST_NAME, Journal, ManifestRow, Previous, load
from .sources import Source, expand
from .udf import DONE, RemoveUDF, plain

# The memory-lean session by default: arena on, memory pattern off — the bench sweep's
# recommendation (docs/BENCHMARKS.md, "Session configs"): about half the retained memory of the
# all-on default for the same speed. Every flag can still be set.
LEAN_CONFIG = SessionConfig(enable_cpu_mem_arena=True, enable_mem_pattern=False)


class JobError(RembgCoreError):
    """The job as a whole could not run (actors failed to start, the cluster went away...)."""


@dataclass(frozen=True)
class JobSpec:
    out: Path  # a local (or shared) folder; outputs and manifest.jsonl go here
    config: SessionConfig = LEAN_CONFIG
    options: RemoveOptions = RemoveOptions()
    limits: BatchLimits = BatchLimits()
    address: str | None = None  # None: start a local cluster (or use the Ray this process runs)
    actors: int | None = None  # None: one per `threads` CPUs of the cluster
    batch_size: int = 4  # rows per map_batches call: small, images are big and uneven
    cache_dir: str | None = None  # a result cache the actors share (a folder every node can reach)
    local_cpus: int | None = None  # a local cluster's CPUs (default: this machine's)
    object_store_mb: int | None = None  # a local cluster's object store (default: Ray's)
    progress_bars: bool | None = None  # Ray Data's progress bars (default: Ray's choice)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.actors is not None and self.actors < 1 or self.batch_size < 1:
            raise ValueError("actors and batch_size must be at least 1")
        if self.out.suffix.lower() == ".zip":
            raise ValueError("the Ray engine writes a folder (with manifest.jsonl), not a .zip")


@dataclass(frozen=True)
class Plan:
    actors: int
    threads: int  # intra-op threads per actor's session
    cpus_per_actor: int  # what each actor reserves in Ray's scheduler


def plan(spec: JobSpec, cluster_cpus: int) -> Plan:
    """Actors × threads against cores: each actor reserves as many CPUs as its session has
    threads, so the cluster is never oversubscribed (docs/DISTRIBUTED.md, "Actors and threads")."""
    threads = spec.config.intra_op_num_threads or 1
    actors = spec.actors or max(1, cluster_cpus // threads)
    return Plan(actors, threads, threads)


@dataclass(frozen=True)
class JobSummary:
    rows: list[ManifestRow] = field(repr=False)
    run: int
    seconds: float
    plan: Plan
    cluster: ClusterInfo
    manifest: Path
    peak_rss: dict[str, int]  # worker → its peak RSS (bytes) over this run

    @property
    def ok(self) -> int:
        return sum(r.ok for r in self.rows)

    @property
    def errors(self) -> int:
        return sum(not r.ok for r in self.rows)

    @property
    def resumed(self) -> int:
        return sum(r.run < self.run for r in self.rows)


RowHook = Callable[[ManifestRow, bool], None]  # (row, made by this run rather than taken from an earlier one)


def run_job(inputs: Iterable[BatchInput] | Sequence[Source], spec: JobSpec, on_row: RowHook | None = None) -> JobSummary:
    """Run (or resume) a job; `on_row` sees every manifest row as it is written, in input order.

    Raises BatchLimitError (too many inputs), RayUnavailableError, JobError.
    """
    ray = require_ray()
    given = list(inputs)
    sources = [s for s in given if isinstance(s, Source)]
    if len(sources) != len(given) or not given:
        sources = expand([s for s in given if not isinstance(s, Source)], spec.limits)
    spec.out.mkdir(parents=True, exist_ok=True)
    manifest_path = spec.out / MANIFEST_NAME
    previous = Previous.from_rows(load(manifest_path), spec.out)
    this_run = previous.last_run + 1
    t0 = time.perf_counter()
    with connect(spec.address, num_cpus=spec.local_cpus, object_store_mb=spec.object_store_mb) as cluster:
        p = plan(spec, cluster.cpus)
        config = replace(spec.config, intra_op_num_threads=p.threads)
        journal = Journal(manifest_path)
        rows: list[ManifestRow] = []
        peaks: dict[str, int] = {}
        try:
            results = _results(ray, sources, spec, config, p, frozenset(previous.by_key))
            names = OutputNames(spec.options.format)
            for r in results:
                source = sources[r["index"]]
                peaks[r["worker"]] = max(peaks.get(r["worker"], 0), int(r["peak_rss"]))
                row = _settle(r, source, names, previous, spec.out, this_run)
                journal.append(row)
                rows.append(row)
                if on_row is not None:
                    on_row(row, row.run == this_run)
            journal.finish(rows)
        except RembgCoreError:
            raise
        except Exception as exc:  # Ray's own errors (an actor that could not start, a lost node)
            raise JobError(_one_line(exc)) from exc
        finally:
            journal.close()
    return JobSummary(rows, this_run, time.perf_counter() - t0, p, cluster, manifest_path, peaks)


def _results(ray, sources: list[Source], spec: JobSpec, config: SessionConfig, p: Plan,
             done_keys: frozenset[str]) -> Iterator[dict]:
    """Result rows from the actor pool, in input order."""
    if not sources:
        return
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # names are assigned in input order, as in the serial batch
    if spec.progress_bars is not None:
        ctx.enable_progress_bars = spec.progress_bars
    # a block per batch, and never fewer blocks than actors (a short job still uses them all)
    blocks = min(len(sources), max(math.ceil(len(sources) / spec.batch_size), p.actors))
    ds = ray.data.from_items([s.row() for s in sources], override_num_blocks=blocks)
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing remote args such as max_restarts by keyword and has no named
        # parameter for it yet (the warning would be printed once by every process that runs a job).
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        ds = _map(ray, ds, spec, config, p, done_keys)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["index"])):
            yield {k: plain(v[i]) for k, v in batch.items()}


def _map(ray, ds, spec: JobSpec, config: SessionConfig, p: Plan, done_keys: frozenset[str]):
    return ds.map_batches(
        RemoveUDF, batch_size=spec.batch_size, batch_format="numpy",
        # two batches queued per actor: enough to hide the hand-over, few enough that an actor
        # still loading its session does not leave the queue to the first one ready
        compute=ray.data.ActorPoolStrategy(size=p.actors, max_tasks_in_flight_per_actor=2), num_cpus=p.cpus_per_actor,
        # No actor restarts: Ray's default (restart forever) logs an error-level core_worker line for every
        # actor of every job, because the constructor's arguments live in the object store, and says such a
        # restart can fail anyway. An actor that dies ends the job with its reason; the manifest lets the
        # next run resume with only the remainder.
        max_restarts=0,
        fn_constructor_kwargs=dict(config=config, options=spec.options, limits=spec.limits, done_keys=done_keys,
                                   cache_dir=spec.cache_dir),
    )


def _settle(r: dict, source: Source, names: OutputNames, previous: Previous, out: Path, run: int) -> ManifestRow:
    """Name, write and describe one result."""
    base = dict(index=source.index, input=source.name, key=r["key"] or "", run=run, worker=r["worker"],
                in_bytes=int(r["in_bytes"]), peak_rss=int(r["peak_rss"]))
    if r["status"] == "error":
        return ManifestRow(status="error", reason=r["reason"], **base)
    name = names(source.rel)
    if r["status"] == DONE:
        prior = previous.by_output.get(name)
        if prior is not None and prior.key == r["key"]:
            return replace(prior, index=source.index, input=source.name)  # done before: keep its row
        data = (out / previous.by_key[r["key"]]).read_bytes()  # same key, same bytes, another name
        meta: dict[str, Any] = dict(cached=True, seconds=0.0, timings={}, width=0, height=0)
    else:
        data = r["data"]
        meta = dict(cached=bool(r["cached"]), seconds=float(r["seconds"]), timings=json.loads(r["timings"]),
                    width=int(r["width"]), height=int(r["height"]))
    try:
        atomic_write_bytes(out / name, data)
    except OSError as exc:
        return ManifestRow(status="error", reason=f"cannot write {name}: {exc.strerror or exc}", unwritable=True,
                           **base)
    return ManifestRow(status="ok", output=name, out_bytes=len(data), **meta, **base)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".strip(": ")
