"""`python -m rembg_core load URL IMAGE... [-c N] [-n N | -d S]`: a bounded load on a loopback server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import ExitCode, error, positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("load", help="send a bounded load to a server on this machine")
    p.add_argument("url", help="e.g. http://127.0.0.1:7000/api/remove")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, sent round-robin")
    p.add_argument("-c", "--concurrency", type=positive_int, default=4)
    p.add_argument("-n", "--requests", type=positive_int, default=None, help="total requests (default 32)")
    p.add_argument("-d", "--duration", type=float, default=None, help="seconds instead of a request count")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE", help="extra form field, e.g. model=u2netp")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--json", metavar="OUT", default=None, help="write the summary as JSON")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..load.generator import LoadSpec, run_load

    images = []
    for name in args.images:
        try:
            images.append((Path(name).name, Path(name).read_bytes()))
        except OSError as exc:
            error(name, exc.strerror or exc)
            return ExitCode.USAGE
    try:
        fields = tuple(tuple(f.split("=", 1)) for f in args.field if "=" in f)
        spec = LoadSpec(args.url, tuple(images), args.concurrency,
                        args.requests if args.requests or args.duration else 32, args.duration, args.timeout, fields)
    except ValueError as exc:
        error(args.url, exc)
        return ExitCode.USAGE
    result = run_load(spec)
    s = result.summary()
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"{s['requests']} requests, {args.concurrency} clients, {s['wall_seconds']:.1f} s: "
          f"{s['throughput']:.2f} ok/s, p50 {fmt(s['p50'])} s, p95 {fmt(s['p95'])} s, p99 {fmt(s['p99'])} s; "
          + ", ".join(f"{k}: {v}" for k, v in s["status"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(s, indent=2))
    return ExitCode.OK if result.server_errors == 0 else ExitCode.REFUSED
