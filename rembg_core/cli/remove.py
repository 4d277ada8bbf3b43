"""`remove INPUT... -o OUT`: one file to one file, or folders, zips and several files through the batch engine.

Batch output goes to a folder or, when OUT ends in .zip, into one zip written atomically. Each good
input prints `src -> dest` on stdout; each refused one prints `error: <path>: <reason>` on stderr
(a zip member's path is `archive.zip:member.png`), after which the others still run.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..batch import BatchLimitError, ItemResult, ResultCache, collect, run_batch, zip_writer
from ..errors import ImageLoadError, ModelError
from ..limits import LIMITS
from ..memory import MB
from ..options import RemoveOptions
from ..pipeline import encode_result, remove
from ..session import SessionConfig
from . import remove_ray
from .common import (
    ExitCode,
    add_edge_flags,
    add_session_flags,
    cannot_write,
    color,
    edge_options,
    error,
    is_zip,
    model_ready,
    outcome,
    positive_int,
    session_config,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remove", help="remove the background of images")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or .zip archives")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (one input), folder, or .zip")
    add_session_flags(p)
    p.add_argument("--max-size", type=positive_int, default=None, help="cap the longest side before processing")
    p.add_argument("--only-mask", action="store_true")
    p.add_argument("--post-process-mask", action="store_true")
    p.add_argument("--bgcolor", type=color, default=None, metavar="R,G,B,A")
    p.add_argument("--crop", action="store_true", help="trim to the subject")
    p.add_argument("--format", choices=("png", "webp"), default=None)
    add_edge_flags(p.add_argument_group("edges"))
    p.add_argument("--cache", metavar="DIR", default=None, help="reuse results stored in DIR (batch only)")
    p.add_argument("--cache-max-mb", type=positive_int, default=LIMITS.cache_max_mb, metavar="MB",
                   help="cache size cap (default: REMBG_LAB_CACHE_MAX_MB)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress line on stderr (default: when stderr is a terminal)")
    remove_ray.add_arguments(p)  # --engine ray and its flags
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = session_config(args)
    if args.engine == "ray":
        try:
            ray_options = remove_options(args, args.format or "png")
        except ValueError as exc:
            error("options", exc)
            return ExitCode.USAGE
        return remove_ray.run(args, config, ray_options)
    out = Path(args.output)
    single_file = (len(args.inputs) == 1 and not Path(args.inputs[0]).is_dir()
                   and not is_zip(args.inputs[0]) and not is_zip(out)
                   and not out.is_dir() and out.suffix != "")
    fmt = args.format or (out.suffix.lstrip(".").lower() if single_file and out.suffix else "png")
    if fmt not in ("png", "webp"):
        error(out, "output format must be png or webp")
        return ExitCode.USAGE
    try:
        options = remove_options(args, fmt)
    except ValueError as exc:
        error("options", exc)
        return ExitCode.USAGE
    if not model_ready(config.model):
        return ExitCode.UNAVAILABLE
    if not single_file:
        return remove_batch(args, config, out, options)
    src = Path(args.inputs[0])
    try:
        result = remove(src, config, options)
    except ImageLoadError as exc:
        error(src, exc)
        return ExitCode.REFUSED
    except ModelError as exc:
        error(config.model, exc)
        return ExitCode.UNAVAILABLE
    except Exception as exc:  # never a traceback
        error(src, f"unexpected {type(exc).__name__}: {exc}")
        return ExitCode.REFUSED
    try:
        atomic_write_bytes(out, encode_result(result))
    except OSError as exc:
        error(out, cannot_write(exc))
        return ExitCode.UNAVAILABLE
    print(f"{src} -> {out} ({result.timings['total']:.2f} s)")
    return ExitCode.OK


@contextlib.contextmanager
def _sink(out: Path) -> Iterator[tuple[Callable[[str, bytes], None], Callable[[str], str]]]:
    """(write(name, data), where(name)) for a .zip or a folder."""
    if is_zip(out):
        with zip_writer(out) as add:
            yield add, lambda name: f"{out}:{name}"
    else:
        out.mkdir(parents=True, exist_ok=True)
        yield (lambda name, data: atomic_write_bytes(out / name, data)), lambda name: str(out / name)


class _ProgressLine:
    """`[12/200] 3 cached, 1 refused  name` rewritten in place on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, done: int, total: int, r: ItemResult, cached: int, refused: int) -> None:
        if self.enabled:
            line = f"[{done}/{total}] {cached} cached, {refused} refused, RSS {r.rss / MB:.0f} MB  {r.name}"
            print(f"\r\033[K{line[:160]}", end="", file=sys.stderr, flush=True)
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def remove_options(args: argparse.Namespace, fmt: str) -> RemoveOptions:
    """The one options value from the parsed arguments; ValueError (one line) for a bad combination."""
    return RemoveOptions(max_size=args.max_size, only_mask=args.only_mask, post_process_mask=args.post_process_mask,
                         bgcolor=args.bgcolor, crop=args.crop, format=fmt, **edge_options(args))


def remove_batch(args: argparse.Namespace, config: SessionConfig, out: Path, options: RemoveOptions) -> int:
    try:
        items = collect(args.inputs)
    except BatchLimitError as exc:
        error(" ".join(args.inputs), exc)
        return ExitCode.REFUSED
    if not items:
        error(" ".join(args.inputs), "no images found")
        return ExitCode.REFUSED
    cache = ResultCache(args.cache, args.cache_max_mb * MB) if args.cache else None
    line = _ProgressLine(sys.stderr.isatty() if args.progress is None else args.progress)
    refused = unwritable = cached = 0
    try:
        with _sink(out) as (write, where):
            for r in run_batch(items, config, options, cache=cache):
                line.clear()
                if not r.ok:
                    refused += 1
                    error(r.name, r.error)
                elif r.output_name is not None and r.data is not None:
                    try:
                        write(r.output_name, r.data)
                    except OSError as exc:
                        unwritable += 1
                        error(where(r.output_name), cannot_write(exc))
                    else:
                        cached += r.cached
                        note = "cached" if r.cached else f"{r.seconds:.2f} s"
                        print(f"{r.name} -> {where(r.output_name)} ({note})", flush=True)
                line(r.index + 1, len(items), r, cached, refused)
    except ModelError as exc:
        line.clear()
        error(config.model, exc)
        return ExitCode.UNAVAILABLE
    except OSError as exc:  # the output folder or zip itself cannot be written
        line.clear()
        error(out, cannot_write(exc))
        return ExitCode.UNAVAILABLE
    line.clear()
    if cache is not None:
        s = cache.stats
        print(f"cache: {s.hits} hits, {s.misses} misses", file=sys.stderr)
    return outcome(refused, unwritable)
