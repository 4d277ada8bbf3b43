"""`claims [--image PATH] [--json OUT] [--quick]`: the source article's claims, measured here in fresh processes."""

from __future__ import annotations

import argparse
import shlex
import sys

from ..atomic import atomic_write_bytes
from ..claims import CLAIMS, Plan, check_claims
from ..claims.report import table
from .common import ExitCode, add_model_flag, cannot_write, error, ready_to_measure


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="check the source article's memory claims on this machine")
    p.add_argument("--image", metavar="PATH", default=None,
                   help="an ordinary photo for the claims that use one (default: a drawn sample)")
    p.add_argument("--json", metavar="OUT", default=None, help="save the run (figures, records, where and when)")
    p.add_argument("--quick", action="store_true", help="one round and shorter batches instead of three rounds")
    p.add_argument("--only", metavar="CLAIM", action="append", choices=[c.id for c in CLAIMS],
                   help="check only this claim (repeatable): " + ", ".join(c.id for c in CLAIMS))
    add_model_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..session import SessionConfig

    if (refused := ready_to_measure(args.image, args.model)) is not None:
        return refused
    plan = Plan.quick() if args.quick else Plan()

    def progress(done: int, total: int, what: str) -> None:
        print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

    command = " ".join(["python -m rembg_core", *map(shlex.quote, sys.argv[1:])]) if sys.argv[1:2] == ["claims"] \
        else "python -m rembg_core claims"
    result = check_claims(args.image, plan=plan, config=SessionConfig(model=args.model), command=command,
                          claims=args.only, progress=progress)
    print(table(result))
    if args.json:
        try:
            atomic_write_bytes(args.json, result.to_json().encode())
        except OSError as exc:
            error(args.json, cannot_write(exc))
            return ExitCode.UNAVAILABLE
    return ExitCode.OK
