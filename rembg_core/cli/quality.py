"""`quality [--json OUT]`: the int8 model's masks against fp32's on photos never used for calibration."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from .. import models
from ..errors import ImageLoadError
from ..imageio import load_image
from ..quantize import quality
from .common import ExitCode, error, model_ready, non_negative_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quality", help="int8 vs fp32 mask agreement on photos never used for calibration")
    p.add_argument("--reference", default="u2netp", choices=sorted(models.REGISTRY))
    p.add_argument("--candidate", default="u2netp-int8", choices=sorted(models.REGISTRY))
    p.add_argument("--image", action="append", default=[], metavar="PATH",
                   help="also compare on this photo (repeatable; never one used for calibration)")
    p.add_argument("--threads", type=non_negative_int, default=0, help="intra-op threads (0 = one per core)")
    p.add_argument("--json", metavar="OUT", default=None, help="write the report as JSON")
    p.set_defaults(func=run)


def _constant(image: Image.Image) -> Callable[[], Image.Image]:
    return lambda: image


def run(args: argparse.Namespace) -> int:
    if not (model_ready(args.reference) and model_ready(args.candidate)):
        return ExitCode.UNAVAILABLE
    photos = quality.default_photos()
    refused = 0
    for item in args.image:
        path = Path(item)
        try:
            photos.append((path.name, _constant(load_image(path).rgb)))
        except (ImageLoadError, OSError) as exc:
            error(path, exc)
            refused += 1

    def progress(done: int, total: int, name: str) -> None:
        if name:
            print(f"[{done + 1}/{total}] {name}", file=sys.stderr, flush=True)

    report = quality.measure(photos, reference=args.reference, candidate=args.candidate,
                             threads=args.threads, progress=progress)
    print(report.table())
    failures = report.failures()
    print("gate: " + ("pass" if not failures else "FAIL: " + "; ".join(failures)))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as exc:
            error(args.json, f"cannot write: {exc.strerror or exc}")
            return ExitCode.UNAVAILABLE
    if failures:
        return ExitCode.BELOW_GATE
    return ExitCode.REFUSED if refused else ExitCode.OK
