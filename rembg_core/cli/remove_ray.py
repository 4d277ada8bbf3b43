"""`remove ... --engine ray`: the batch over a Ray cluster, from the command line.

Prints what the serial batch prints — `src -> dest (0.31 s)` per output on stdout,
`error: <path>: <reason>` per refused input on stderr — then one summary line; Ray's own
progress bars show on a terminal. Exit codes as the serial batch: 3 when any input was refused
(after all others were processed), 1 when the model or the cluster is unavailable, 2 for usage
(among them: Ray not installed). `remove` parses the arguments and builds the session config and
options; this module only runs them on Ray, and imports nothing of the CLI but `common`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..batch import BatchLimitError
from ..errors import ModelError, RembgCoreError
from ..memory import MB
from ..options import RemoveOptions
from ..session import SessionConfig
from .common import ExitCode, cannot_write, error, model_ready, non_negative_int, outcome, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine (docs/DISTRIBUTED.md)")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process; ray: Ray Data actors, one session each (pip install -e .[ray])")
    g.add_argument("--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
                   help="join this Ray cluster (default: start a local one)")
    g.add_argument("--actors", type=positive_int, default=None, metavar="N",
                   help="actors, one session each (default: the cluster's CPUs / threads per actor)")
    g.add_argument("--batch-size", type=positive_int, default=4, metavar="B", help="images per map_batches call")
    g.add_argument("--object-store-mb", type=non_negative_int, default=0, metavar="MB",
                   help="a local cluster's object store (default: Ray's)")


def run(args: argparse.Namespace, config: SessionConfig, options: RemoveOptions) -> int:
    from ..distributed.cluster import RayUnavailableError, ray_available
    from ..distributed.job import JobSpec, run_job

    if not ray_available():
        error("--engine ray", "Ray is not installed; install it with: pip install -e .[ray]")
        return ExitCode.USAGE
    out = Path(args.output)
    # the memory-lean session (pattern off) unless --mem-pattern was asked for (distributed.job.LEAN_CONFIG)
    config = dataclasses.replace(config, enable_mem_pattern=bool(args.mem_pattern))
    try:
        spec = JobSpec(out=out, config=config, address=args.address, actors=args.actors, batch_size=args.batch_size,
                       options=options, cache_dir=str(Path(args.cache).resolve()) if args.cache else None,
                       object_store_mb=args.object_store_mb or None, progress_bars=args.progress)
    except ValueError as exc:
        error(out, exc)
        return ExitCode.USAGE
    if not model_ready(config.model):
        return ExitCode.UNAVAILABLE

    def show(row, fresh: bool) -> None:
        if row.ok:
            note = "done earlier" if not fresh else "cached" if row.cached else f"{row.seconds:.2f} s"
            print(f"{row.input} -> {out / row.output} ({note})", flush=True)
        else:
            error(row.input, row.reason)

    try:
        summary = run_job(args.inputs, spec, on_row=show)
    except BatchLimitError as exc:
        error(" ".join(args.inputs), exc)
        return ExitCode.REFUSED
    except (RayUnavailableError, ModelError) as exc:
        error(args.address or "ray", exc)
        return ExitCode.UNAVAILABLE
    except RembgCoreError as exc:
        error("ray job", exc)
        return ExitCode.UNAVAILABLE
    except OSError as exc:
        error(out, cannot_write(exc))
        return ExitCode.UNAVAILABLE
    if not summary.rows:
        error(" ".join(args.inputs), "no images found")
        return ExitCode.REFUSED
    p = summary.plan
    peaks = ", ".join(f"{v / MB:.0f}" for v in sorted(summary.peak_rss.values()))
    print(f"ray: {len(summary.rows)} inputs, {summary.ok} ok ({summary.resumed} from an earlier run), "
          f"{summary.errors} refused in {summary.seconds:.1f} s; {p.actors} actors x {p.threads} threads on "
          f"{summary.cluster.nodes} node(s); peak RSS per actor {peaks} MB; manifest {summary.manifest}",
          file=sys.stderr)
    unwritable = sum(r.unwritable for r in summary.rows)
    return outcome(summary.errors - unwritable, unwritable)
