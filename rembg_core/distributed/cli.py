"""`remove ... --engine ray`: the batch over a Ray cluster, from the command line.

Prints what the serial batch prints — `src -> dest (0.31 s)` per output on stdout,
`error: <path>: <reason>` per refused input on stderr — then one summary line; Ray's own
progress bars show on a terminal. Exit codes as the serial batch: 3 when any input was refused
(after all others were processed), 1 when the model or the cluster is unavailable, 2 for usage
(among them: Ray not installed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..cli.common import non_negative_int, positive_int

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


def run(args: argparse.Namespace) -> int:
    from ..batch import BatchLimitError
    from ..cli import common as cli
    from ..cli.common import ExitCode
    from ..errors import ModelError, RembgCoreError
    from ..memory import MB
    from ..options import RemoveOptions
    from ..session import SessionConfig
    from .cluster import RayUnavailableError, ray_available
    from .job import JobSpec, run_job

    if not ray_available():
        cli.error("--engine ray", "Ray is not installed; install it with: pip install -e .[ray]")
        return ExitCode.USAGE
    fmt = args.format or "png"
    out = Path(args.output)
    try:
        # the memory-lean session unless --mem-pattern was asked for (LEAN_CONFIG)
        config = SessionConfig(model=args.model, enable_cpu_mem_arena=args.arena,
                               enable_mem_pattern=bool(args.mem_pattern), arena_shrinkage=args.arena_shrinkage,
                               intra_op_num_threads=args.threads)
        spec = JobSpec(out=out, config=config, address=args.address, actors=args.actors, batch_size=args.batch_size,
                       options=RemoveOptions(max_size=args.max_size, only_mask=args.only_mask,
                                             post_process_mask=args.post_process_mask, bgcolor=args.bgcolor,
                                             crop=args.crop, format=fmt, **cli.edge_options(args)),
                       cache_dir=str(Path(args.cache).resolve()) if args.cache else None,
                       object_store_mb=args.object_store_mb or None, progress_bars=args.progress)
    except ValueError as exc:
        cli.error(out, exc)
        return ExitCode.USAGE
    try:
        cli.ensure_model(config.model)
    except ModelError as exc:
        cli.error(config.model, exc)
        return ExitCode.UNAVAILABLE

    def show(row, fresh: bool) -> None:
        if row.ok:
            note = "done earlier" if not fresh else "cached" if row.cached else f"{row.seconds:.2f} s"
            print(f"{row.input} -> {out / row.output} ({note})", flush=True)
        else:
            cli.error(row.input, row.reason)

    try:
        summary = run_job(args.inputs, spec, on_row=show)
    except BatchLimitError as exc:
        cli.error(" ".join(args.inputs), exc)
        return ExitCode.REFUSED
    except (RayUnavailableError, ModelError) as exc:
        cli.error(args.address or "ray", exc)
        return ExitCode.UNAVAILABLE
    except RembgCoreError as exc:
        cli.error("ray job", exc)
        return ExitCode.UNAVAILABLE
    except OSError as exc:
        cli.error(out, f"cannot write: {exc.strerror or exc}")
        return ExitCode.UNAVAILABLE
    if not summary.rows:
        cli.error(" ".join(args.inputs), "no images found")
        return ExitCode.REFUSED
    p = summary.plan
    peaks = ", ".join(f"{v / MB:.0f}" for v in sorted(summary.peak_rss.values()))
    print(f"ray: {len(summary.rows)} inputs, {summary.ok} ok ({summary.resumed} from an earlier run), "
          f"{summary.errors} refused in {summary.seconds:.1f} s; {p.actors} actors x {p.threads} threads on "
          f"{summary.cluster.nodes} node(s); peak RSS per actor {peaks} MB; manifest {summary.manifest}",
          file=sys.stderr)
    unwritable = sum(r.reason.startswith("cannot write") for r in summary.rows)
    return cli.outcome(summary.errors - unwritable, unwritable)
