"""`bench --image PATH`: the session-config sweep, each configuration in fresh processes, interleaved rounds."""

from __future__ import annotations

import argparse
import json
import sys

from ..allocator import AllocatorError
from ..atomic import atomic_write_bytes
from ..measure import report
from ..measure.configs import KINDS, config_set
from ..measure.records import ProbeRecord
from ..measure.sweep import sweep
from ..memory import MB
from .common import ExitCode, add_model_flag, cannot_write, error, non_negative_int, positive_int, ready_to_measure


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure session configs, each in fresh processes")
    p.add_argument("--image", required=True, metavar="PATH")
    p.add_argument("--configs", choices=KINDS, default="flags",
                   help="flags: arena x mem pattern; full: also shrinkage, threads, extend strategy, malloc env; "
                        "allocators: glibc, MALLOC_ARENA_MAX=2, a pinned MALLOC_MMAP_THRESHOLD_, jemalloc, mimalloc, "
                        "each with ORT's arena on and off")
    p.add_argument("--rounds", type=positive_int, default=2,
                   help="interleaved rounds: every config once per round, each time in a fresh process")
    p.add_argument("--repeats", type=positive_int, default=3, help="measured images per process")
    p.add_argument("--warmups", type=non_negative_int, default=2,
                   help="unmeasured runs first (mem pattern allocates on the 2nd)")
    p.add_argument("--max-size", type=positive_int, default=None)
    add_model_flag(p)
    p.add_argument("--timeout", type=positive_int, default=300, help="seconds per process before it is killed")
    p.add_argument("--json", metavar="OUT", default=None, help="write all records as JSON")
    p.add_argument("--csv", metavar="OUT", default=None, help="write the summary table as CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (refused := ready_to_measure(args.image, args.model)) is not None:
        return refused
    configs = config_set(args.configs, args.model)
    for choice in dict.fromkeys(c.allocator for c in configs):
        try:
            choice.env()  # a missing library is refused here, not run silently on glibc
        except AllocatorError as exc:
            error(choice.name, exc)
            return ExitCode.UNAVAILABLE
    print(f"{len(configs)} configs × {args.rounds} rounds, each a fresh process with {args.warmups} warm-up(s) and "
          f"{args.repeats} measured image(s)", file=sys.stderr)

    def progress(done: int, total: int, r: ProbeRecord) -> None:
        verified = r.meta.get("allocator", {}).get("verified", "?")
        status = (f"{r.median_latency:.3f} s, peak {r.memory.peak / MB:.0f} MB, retained {r.memory.retained / MB:.0f} MB, "
                  f"allocator {verified} (verified in the child)"
                  if r.ok and r.median_latency is not None else f"failed: {r.reason}")
        print(f"[{done}/{total}] {r.config.name}: {status}", file=sys.stderr, flush=True)

    result = sweep(args.image, configs, max_size=args.max_size, repeats=args.repeats, warmups=args.warmups,
                   rounds=args.rounds, timeout=args.timeout, progress=progress)
    print(report.table(result))
    print(result.recommendation.text)
    for w in result.warnings:
        print(f"warning: {w.message}")
    for path, text in ((args.json, lambda: json.dumps(result.to_dict(), indent=1)),
                       (args.csv, lambda: report.to_csv(result))):
        if path:
            try:
                atomic_write_bytes(path, text().encode())
            except OSError as exc:
                error(path, cannot_write(exc))
                return ExitCode.UNAVAILABLE
    return ExitCode.OK if any(r.ok for r in result.records) else ExitCode.UNAVAILABLE
