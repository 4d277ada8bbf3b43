"""`python -m rembg_core` / `rembg-lab`: one module per subcommand, each with `add_parser` and `run`.

Exit codes are one table for every command (common.ExitCode): 0 all well; 1 the model or an
output could not be had; 2 usage; 3 some input was refused, after every other input was processed;
4 (quality) the model is below the quality gate.
A refused input prints one line on stderr, `error: <path>: <reason>`, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import bench, claims, edges, load, models, quality, remove, serve, watermark
from .common import ExitCode

SUBCOMMANDS = (remove, models, watermark, bench, quality, serve, load, claims, edges)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rembg-lab", description="Background removal you can see into.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line itself, for a re-exec (serve)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
