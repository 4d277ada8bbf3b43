"""`models list | fetch [NAME] | verify [NAME]`: the model store from the command line."""

from __future__ import annotations

import argparse

from .. import models
from ..errors import ModelError
from .common import ExitCode, ensure_model, error


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, fetch or verify models")
    p.add_argument("action", choices=("list", "fetch", "verify"))
    p.add_argument("name", nargs="?", choices=sorted(models.REGISTRY))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        print(f"store: {models.models_dir()}")
        for spec in models.REGISTRY.values():
            here = "ok" if models.is_available(spec.name) else "-"
            default = " (default)" if spec.name == models.DEFAULT_MODEL else ""
            print(f"{spec.name:<18} {here:<3} {spec.input_size:>5}px {spec.size_mb:>6.1f} MB  {spec.about}{default}")
        return ExitCode.OK
    name = args.name or models.DEFAULT_MODEL
    try:
        if args.action == "fetch":
            ensure_model(name)
        path = models.verify(name)
    except ModelError as exc:
        error(name, exc)
        return ExitCode.UNAVAILABLE
    print(f"{name}: ok {path} ({models.checksum(models.get_spec(name), path)})")
    return ExitCode.OK
