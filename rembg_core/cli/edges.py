"""`edges [--image RGBA_CUTOUT ...] [--modes ...] [--rounds N] [--json OUT]`: edge quality against known truth.

Synthetic composites (hair-like strands, fur, a veil; and any RGBA cutout given) over a green
screen, an out-of-focus colour field and white; every mode scored on the same inputs with the
standard matting figures, its time and peak memory measured in fresh processes, interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..edgequality import report, runner, synthetic
from ..edgequality.crops import side_by_side
from ..errors import ImageLoadError
from .common import ExitCode, cannot_write, error, model_ready, non_negative_int, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edges", help="edge quality of each edge mode on composites with known alpha and colour")
    p.add_argument("--image", action="append", default=[], metavar="RGBA_CUTOUT",
                   help="also score on this cutout (a PNG/WebP with alpha) as a foreground; repeatable")
    p.add_argument("--only-images", action="store_true", help="skip the procedural foregrounds")
    p.add_argument("--foregrounds", nargs="+", choices=synthetic.FOREGROUNDS, default=list(synthetic.FOREGROUNDS))
    p.add_argument("--backgrounds", nargs="+", choices=synthetic.BACKGROUNDS, default=list(synthetic.BACKGROUNDS))
    p.add_argument("--modes", nargs="+", choices=list(runner.MODES), default=None,
                   help="default: ours (none, decontaminate, matting) and rembg's where rembg is installed")
    p.add_argument("--rounds", type=positive_int, default=3, help="interleaved rounds, each mode a fresh process")
    p.add_argument("--warmups", type=non_negative_int, default=1, help="unmeasured runs per process first")
    p.add_argument("--size", type=positive_int, default=synthetic.DEFAULT_SIZE, help="procedural composites' side, px")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--timeout", type=positive_int, default=900, help="seconds per process before it is killed")
    p.add_argument("--json", metavar="OUT", default=None, help="write the run (scores, times, provenance) as JSON")
    p.add_argument("--crops", metavar="DIR", default=None, help="write one side-by-side crop PNG per composite here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    layers, refused = [], 0
    for item in args.image:
        try:
            layers.append(synthetic.cutout(item, name=Path(item).name))
        except (ImageLoadError, ValueError, OSError) as exc:
            error(item, exc)
            refused += 1
    foregrounds = () if args.only_images else tuple(args.foregrounds)
    if not layers and not foregrounds:
        print("error: nothing to score: no procedural foreground and no usable --image", file=sys.stderr)
        return ExitCode.REFUSED if refused else ExitCode.USAGE
    if not model_ready("u2netp"):
        return ExitCode.UNAVAILABLE
    modes = tuple(args.modes or runner.available_modes())
    composites = synthetic.suite(foregrounds, tuple(args.backgrounds), cutouts=tuple(layers), size=args.size,
                                 seed=args.seed)
    print(f"{len(composites)} composites × {len(modes)} modes × {args.rounds} rounds, each mode a fresh process",
          file=sys.stderr)

    def progress(done: int, total: int, what: str) -> None:
        print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

    command = " ".join(["python -m rembg_core", *sys.argv[1:]]) if sys.argv[0].endswith("__main__.py") else ""
    result = runner.run_edges(composites, modes, rounds=args.rounds, warmups=args.warmups, timeout=args.timeout,
                              progress=progress, command=command)
    print(report.table(result))
    m = result.meta
    print(f"measured {m['when']} on {m['machine']['summary']}, load average {m['loadavg_start'][0]:.1f} → "
          f"{m['loadavg_end'][0]:.1f}")
    failed = [r for r in result.results if not r.ok]
    unwritable = 0
    if args.json:
        try:
            atomic_write_bytes(Path(args.json), (json.dumps(report.to_dict(result), indent=1) + "\n").encode())
        except OSError as exc:
            error(args.json, cannot_write(exc))
            unwritable += 1
    if args.crops:
        unwritable += _write_crops(Path(args.crops), composites, result)
    if unwritable or failed:
        return ExitCode.UNAVAILABLE
    return ExitCode.REFUSED if refused else ExitCode.OK


def _write_crops(folder: Path, composites: list, result: runner.EdgesRun) -> int:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for i, c in enumerate(composites):
            cuts = [(r.mode, r.cutouts[i]) for r in result.results if r.ok]
            side_by_side(c, cuts).save(folder / (c.name.replace("/", "-").replace(" ", "_") + ".png"))
    except OSError as exc:
        error(folder, cannot_write(exc))
        return 1
    return 0
