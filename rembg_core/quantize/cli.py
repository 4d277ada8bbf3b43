"""`python -m rembg_core quality`: int8 against fp32 masks on held-out photos, with the gate's verdict."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from .. import models
from ..errors import ImageLoadError, ModelError
from ..imageio import load_image
from . import quality

EXIT_OK, EXIT_FAILED, EXIT_GATE = 0, 1, 4


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("quality", help="int8 vs fp32 mask agreement on photos never used for calibration")
    p.add_argument("--reference", default="u2netp", choices=sorted(models.REGISTRY))
    p.add_argument("--candidate", default="u2netp-int8", choices=sorted(models.REGISTRY))
    p.add_argument("--image", action="append", default=[], metavar="PATH",
                   help="also compare on this photo (repeatable; never one used for calibration)")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = one per core)")
    p.add_argument("--json", metavar="OUT", default=None, help="write the report as JSON")
    p.set_defaults(func=run)
    return p


def _constant(image: Image.Image) -> Callable[[], Image.Image]:
    return lambda: image


def run(args: argparse.Namespace) -> int:
    from ..cli import ensure_model  # the shared fetch-with-progress; imported late (cli imports us)

    try:
        for name in (args.reference, args.candidate):
            ensure_model(name)
    except ModelError as exc:
        print(f"error: {args.candidate}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    photos = quality.default_photos()
    for item in args.image:
        path = Path(item)
        try:
            rgb = load_image(path).rgb
        except (ImageLoadError, OSError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            continue
        photos.append((path.name, _constant(rgb)))

    def progress(done: int, total: int, name: str) -> None:
        if name:
            print(f"[{done + 1}/{total}] {name}", file=sys.stderr, flush=True)

    report = quality.measure(photos, reference=args.reference, candidate=args.candidate,
                             threads=args.threads, progress=progress)
    print(report.table())
    failures = report.failures()
    print("gate: " + ("pass" if not failures else "FAIL: " + "; ".join(failures)))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return EXIT_OK if not failures else EXIT_GATE
