"""`remove` over folders, zips and several files: the batch engine behind the CLI.

Output goes to a folder or, when OUT ends in .zip, into one zip written atomically. Each good
input prints `src -> dest` on stdout; each refused one prints `error: <path>: <reason>` on
stderr (a zip member's path is `archive.zip:member.png`); the exit code is 3 when any input
was refused, after all the others were processed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Callable, Iterator

from .atomic import atomic_write_bytes
from .batch import BatchLimitError, ItemResult, RemoveOptions, collect, run_batch, zip_writer
from .cache import ResultCache
from .errors import ModelError
from .memory import MB
from .session import SessionConfig

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 3


def _error(path: object, reason: object) -> None:
    print(f"error: {path}: {reason}", file=sys.stderr)


@contextlib.contextmanager
def _sink(out: Path) -> Iterator[tuple[Callable[[str, bytes], None], Callable[[str], str]]]:
    """(write(name, data), where(name)) for a .zip or a folder."""
    if out.suffix.lower() == ".zip":
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


def remove_batch(args: argparse.Namespace, config: SessionConfig, out: Path, fmt: str) -> int:
    options = RemoveOptions(max_size=args.max_size, only_mask=args.only_mask, post_process_mask=args.post_process_mask,
                            bgcolor=args.bgcolor, crop=args.crop, format=fmt)
    try:
        items = collect(args.inputs)
    except BatchLimitError as exc:
        _error(" ".join(args.inputs), exc)
        return EXIT_REFUSED
    if not items:
        _error(" ".join(args.inputs), "no images found")
        return EXIT_REFUSED
    cache = ResultCache(args.cache, args.cache_max_mb * MB) if args.cache else None
    show = sys.stderr.isatty() if args.progress is None else args.progress
    line = _ProgressLine(show)
    done = refused = cached = 0
    try:
        with _sink(out) as (write, where):
            for r in run_batch(items, config, options, cache=cache):
                if r.ok:
                    try:
                        write(r.output_name, r.data)
                    except OSError as exc:
                        line.clear()
                        _error(where(r.output_name), f"cannot write: {exc.strerror or exc}")
                        refused += 1
                    else:
                        done += 1
                        cached += r.cached
                        line.clear()
                        note = "cached" if r.cached else f"{r.seconds:.2f} s"
                        print(f"{r.name} -> {where(r.output_name)} ({note})", flush=True)
                else:
                    refused += 1
                    line.clear()
                    _error(r.name, r.error)
                line(r.index + 1, len(items), r, cached, refused)
    except ModelError as exc:
        line.clear()
        _error(config.model, exc)
        return EXIT_FAILED
    except OSError as exc:  # the output folder or zip itself cannot be written
        line.clear()
        _error(out, f"cannot write: {exc.strerror or exc}")
        return EXIT_FAILED
    line.clear()
    if cache is not None:
        s = cache.stats
        print(f"cache: {s.hits} hits, {s.misses} misses", file=sys.stderr)
    return EXIT_REFUSED if refused else EXIT_OK
