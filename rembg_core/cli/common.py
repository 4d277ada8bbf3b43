"""What every subcommand shares: the exit-code table, one-line errors, argument types, session flags."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from enum import IntEnum
from pathlib import Path

from .. import models
from ..colors import Color, parse_color, parse_rgb
from ..errors import ImageLoadError, ModelError
from ..imageio import IMAGE_SUFFIXES, load_image
from ..session import SessionConfig


class ExitCode(IntEnum):
    """The one table of exit codes, for every command (the README prints it)."""

    OK = 0  # everything went well
    UNAVAILABLE = 1  # the model could not be had, or an output could not be written
    USAGE = 2  # the command line is wrong (argparse exits with 2 too)
    REFUSED = 3  # some input was refused; every other input was still processed
    BELOW_GATE = 4  # quality: the candidate model's masks are below the quality gate
    INTERRUPTED = 130  # Ctrl-C


def error(path: object, reason: object) -> None:
    """The one line a refused input or a failed output gets: `error: <path>: <reason>`."""
    lines = str(reason).strip().splitlines()
    print(f"error: {path}: {lines[0] if lines else 'failed'}", file=sys.stderr)


def outcome(refused: int, unwritable: int) -> ExitCode:
    """A run's exit code from its failures: an output that could not be written outranks a refused input."""
    if unwritable:
        return ExitCode.UNAVAILABLE
    return ExitCode.REFUSED if refused else ExitCode.OK


def cannot_write(exc: OSError) -> str:
    return f"cannot write: {exc.strerror or exc}"


# --- argument types ------------------------------------------------------------

def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def fraction(text: str) -> float:
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1")
    return value


def color(text: str) -> Color:
    try:
        return parse_color(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rgb(text: str) -> tuple[int, int, int]:
    try:
        return parse_rgb(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- edge refinement ---------------------------------------------------------------

EDGE_INTS = (("alpha_matting_foreground_threshold", "foreground threshold"),
             ("alpha_matting_background_threshold", "background threshold"),
             ("alpha_matting_erode_size", "erode size"))


def add_edge_flags(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """rembg's edge options with its long and short names. The numbers are read as text and checked by
    `edge_options`, so a bad value is one line (argparse's own type errors print the usage too)."""
    p.add_argument("-a", "--alpha-matting", action="store_true",
                   help="refine alpha in the uncertain band (closed-form matting), then the edge colour")
    p.add_argument("-af", "--alpha-matting-foreground-threshold", default="240", metavar="N",
                   help="mask above N is certain foreground (0-255, default 240)")
    p.add_argument("-ab", "--alpha-matting-background-threshold", default="10", metavar="N",
                   help="mask below N is certain background (0-255, below -af, default 10)")
    p.add_argument("-ae", "--alpha-matting-erode-size", default="10", metavar="N",
                   help="shrink both certain regions by an N×N square (default 10)")
    p.add_argument("-dc", "--decontaminate", action="store_true",
                   help="estimate the subject's own colour at soft edges (removes the background's tint)")
    p.add_argument("--clean-haze", action="store_true",
                   help="clear faint background haze and stray specks from the mask")


def edge_options(args: argparse.Namespace) -> dict:
    """RemoveOptions fields from `add_edge_flags`' arguments; ValueError (one line) for a bad number."""
    values: dict = {"alpha_matting": args.alpha_matting, "decontaminate": args.decontaminate,
                    "clean_haze": args.clean_haze}
    for field, name in EDGE_INTS:
        text = str(getattr(args, field)).strip()
        try:
            values[field] = int(text)
        except ValueError:
            raise ValueError(f"alpha matting {name} must be a whole number 0-255, not {text!r}") from None
    return values


# --- sessions and models ------------------------------------------------------------

def add_model_flag(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--model", default=models.DEFAULT_MODEL, choices=sorted(models.REGISTRY))


def add_session_flags(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    add_model_flag(p)
    p.add_argument("--arena", dest="arena", action=argparse.BooleanOptionalAction, default=True,
                   help="ONNX Runtime enable_cpu_mem_arena (default: on)")
    p.add_argument("--mem-pattern", dest="mem_pattern", action=argparse.BooleanOptionalAction, default=None,
                   help="ONNX Runtime enable_mem_pattern (default: on; off with remove --engine ray)")
    p.add_argument("--arena-shrinkage", action="store_true",
                   help="give the arena back after every run (RunOptions memory.enable_memory_arena_shrinkage)")
    p.add_argument("--threads", type=non_negative_int, default=0, help="intra-op threads (0 = one per core)")


def session_config(args: argparse.Namespace) -> SessionConfig:
    return SessionConfig(model=args.model, enable_cpu_mem_arena=args.arena, enable_mem_pattern=args.mem_pattern is not False,
                         arena_shrinkage=args.arena_shrinkage, intra_op_num_threads=args.threads)


def ensure_model(name: str) -> None:
    """Fetch the model when it is missing, with a one-line progress on stderr. Raises ModelError."""
    if models.is_available(name):
        return
    shown = {"message": ""}
    last = {"at": 0.0}

    def progress(message: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if message != shown["message"]:  # a new step starts on a new line
            print(("\n" if shown["message"] else "") + message, end="", file=sys.stderr, flush=True)
            shown["message"] = message
        if total and (now - last["at"] > 0.5 or done >= total):
            last["at"] = now
            print(f"\r{message} {100 * done / total:.0f}%", end="", file=sys.stderr, flush=True)

    print(f"fetching model {name}", file=sys.stderr)
    try:
        models.fetch(name, progress)
    finally:
        print(file=sys.stderr)


def model_ready(name: str) -> bool:
    """`ensure_model`, with a failure printed as the one-line error; False when the model cannot be had."""
    try:
        ensure_model(name)
    except ModelError as exc:
        error(name, exc)
        return False
    return True


def ready_to_measure(image: str | None, model: str) -> ExitCode | None:
    """Before any child process starts: the image must load and the model be there. None when both
    are fine, else the exit code (the one-line error already printed)."""
    if image is not None:
        try:
            load_image(image, max_size=64)
        except ImageLoadError as exc:
            error(image, exc)
            return ExitCode.REFUSED
    return None if model_ready(model) else ExitCode.UNAVAILABLE


# --- inputs and outputs -------------------------------------------------------------

def expand_inputs(inputs: list[str]) -> Iterator[Path]:
    """Files as given; folders as their image files, sorted."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                              and not p.name.startswith("."))
        else:
            yield path


def image_format(path: Path, allowed: tuple[str, ...]) -> str | None:
    """The format a file name asks for ('jpeg' for .jpg), if it is one of `allowed`."""
    fmt = {".jpg": "jpeg", ".jpeg": "jpeg"}.get(path.suffix.lower(), path.suffix.lower().lstrip("."))
    return fmt if fmt in allowed else None


def is_zip(path: str | Path) -> bool:
    return str(path).lower().endswith(".zip")
