"""`python -m rembg_core` / `rembg-lab`: remove, models, watermark.

Exit codes: 0 all well; 1 the model or output is unavailable; 2 usage; 3 some input was refused
(after every other input was processed). A refused input prints one line on stderr,
`error: <path>: <reason>`, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from . import compose, models, watermark
from .atomic import atomic_write_bytes
from .errors import ImageLoadError, ModelError
from .imageio import encode
from .pipeline import remove
from .session import SessionConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif", ".ppm", ".tga", ".ico"}


def error(path: object, reason: object) -> None:
    print(f"error: {path}: {reason}", file=sys.stderr)


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


def color(text: str) -> compose.Color:
    try:
        return compose.parse_color(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_session_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=models.DEFAULT_MODEL, choices=sorted(models.REGISTRY))
    p.add_argument("--arena", dest="arena", action=argparse.BooleanOptionalAction, default=True,
                   help="ONNX Runtime enable_cpu_mem_arena (default: on)")
    p.add_argument("--mem-pattern", dest="mem_pattern", action=argparse.BooleanOptionalAction, default=True,
                   help="ONNX Runtime enable_mem_pattern (default: on)")
    p.add_argument("--arena-shrinkage", action="store_true",
                   help="give the arena back after every run (RunOptions memory.enable_memory_arena_shrinkage)")
    p.add_argument("--threads", type=non_negative_int, default=0, help="intra-op threads (0 = one per core)")


def session_config(args: argparse.Namespace) -> SessionConfig:
    return SessionConfig(model=args.model, enable_cpu_mem_arena=args.arena, enable_mem_pattern=args.mem_pattern,
                         arena_shrinkage=args.arena_shrinkage, intra_op_num_threads=args.threads)


def ensure_model(name: str) -> None:
    """Fetch the model when it is missing, with a one-line progress on stderr."""
    if models.is_available(name):
        return
    state = {"message": "", "at": 0.0}

    def progress(message: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if message != state["message"]:  # a new step starts on a new line
            print(("\n" if state["message"] else "") + message, end="", file=sys.stderr, flush=True)
            state["message"] = message
        if total and (now - state["at"] > 0.5 or done >= total):
            state["at"] = now
            print(f"\r{message} {100 * done / total:.0f}%", end="", file=sys.stderr, flush=True)

    print(f"fetching model {name}", file=sys.stderr)
    models.fetch(name, progress)
    print(file=sys.stderr)


# --- remove -------------------------------------------------------------------

def expand_inputs(inputs: list[str]) -> Iterator[Path]:
    """Files as given; folders as their image files, sorted."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def cmd_remove(args: argparse.Namespace) -> int:
    config = session_config(args)
    out = Path(args.output)
    single_file = (len(args.inputs) == 1 and not Path(args.inputs[0]).is_dir()
                   and not _is_zip(args.inputs[0]) and not _is_zip(out)
                   and not out.is_dir() and out.suffix != "")
    fmt = args.format or (out.suffix.lstrip(".").lower() if single_file and out.suffix else "png")
    if fmt not in ("png", "webp"):
        error(out, "output format must be png or webp")
        return EXIT_USAGE
    try:
        ensure_model(config.model)
    except ModelError as exc:
        error(config.model, exc)
        return EXIT_FAILED
    if not single_file:
        from .batch_cli import remove_batch  # the batch engine; single files keep the plain path below

        return remove_batch(args, config, out, fmt)
    src = Path(args.inputs[0])
    try:
        result = remove(src, config, max_size=args.max_size, only_mask=args.only_mask,
                        post_process_mask=args.post_process_mask, bgcolor=args.bgcolor, crop=args.crop)
        atomic_write_bytes(out, encode(result.image, fmt, result.source.icc_profile))
    except ImageLoadError as exc:
        error(src, exc)
        return EXIT_REFUSED
    except ModelError as exc:
        error(config.model, exc)
        return EXIT_FAILED
    except OSError as exc:
        error(out, f"cannot write: {exc.strerror or exc}")
        return EXIT_REFUSED
    except Exception as exc:  # never a traceback
        error(src, f"unexpected {type(exc).__name__}: {exc}")
        return EXIT_REFUSED
    print(f"{src} -> {out} ({result.timings['total']:.2f} s)")
    return EXIT_OK


def _is_zip(path: str | Path) -> bool:
    return str(path).lower().endswith(".zip")


# --- models -------------------------------------------------------------------

def cmd_models(args: argparse.Namespace) -> int:
    if args.action == "list":
        print(f"store: {models.models_dir()}")
        for spec in models.REGISTRY.values():
            here = "ok" if models.is_available(spec.name) else "-"
            default = " (default)" if spec.name == models.DEFAULT_MODEL else ""
            print(f"{spec.name:<18} {here:<3} {spec.input_size:>5}px {spec.size_mb:>6.1f} MB  {spec.about}{default}")
        return EXIT_OK
    names = [args.name] if args.name else [models.DEFAULT_MODEL]
    status = EXIT_OK
    for name in names:
        try:
            if args.action == "fetch":
                ensure_model(name)
            path = models.verify(name)
            print(f"{name}: ok {path} ({models.checksum(models.get_spec(name), path)})")
        except ModelError as exc:
            error(name, exc)
            status = EXIT_FAILED
    return status


# --- watermark ----------------------------------------------------------------

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


def rgb(text: str) -> tuple[int, int, int]:
    try:
        return watermark.parse_rgb(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_watermark_parser(sub) -> None:
    p = sub.add_parser("watermark", help="turn a logo into a transparent watermark; stamp it onto photos",
                       description="Logo → transparent watermark (PNG/WebP), optionally stamped onto photos. "
                                   "Alpha source 'auto': the logo's own transparency if it has any, else a colour "
                                   "key when its border is one plain colour, else the model.")
    p.add_argument("logo", metavar="LOGO")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="watermark file (.png or .webp)")
    p.add_argument("--mask", metavar="MASK", help="also write the watermark's alpha alone (greyscale PNG/WebP)")
    g = p.add_argument_group("alpha source")
    g.add_argument("--source", choices=watermark.SOURCES, default="auto")
    g.add_argument("--key-color", type=rgb, default=None, metavar="COLOR",
                   help="background colour to key out (default: detected from the border)")
    g.add_argument("--tolerance", type=number, default=16.0, help="RGB distance still counted as background")
    g.add_argument("--softness", type=number, default=64.0, help="width of the soft ramp beyond the tolerance")
    g.add_argument("--no-defringe", dest="defringe", action="store_false",
                   help="keep the background colour mixed into soft edge pixels")
    add_session_flags(g)
    g = p.add_argument_group("look")
    g.add_argument("--opacity", type=fraction, default=1.0, help="0..1, baked into alpha")
    tone = g.add_mutually_exclusive_group()
    tone.add_argument("--tint", type=rgb, default=None, metavar="COLOR", help="one colour, e.g. #FFFFFF")
    tone.add_argument("--greyscale", "--grayscale", action="store_true")
    g.add_argument("--threshold", type=positive_int, default=None, metavar="N",
                   help="hard edge: alpha >= N opaque, else transparent (1-255)")
    g.add_argument("--feather", type=number, default=0.0, metavar="PX", help="soft edge: blur alpha by PX")
    g.add_argument("--trim", action="store_true", help="cut transparent margins")
    g.add_argument("--size", type=positive_int, default=None, metavar="N", help="longest side of the mark, px")
    g.add_argument("--padding", type=non_negative_int, default=0, metavar="N", help="transparent px around it")
    g.add_argument("--square", action="store_true", help="centre on a square canvas")
    g = p.add_argument_group("stamp photos")
    g.add_argument("--onto", nargs="+", default=None, metavar="PHOTO", help="photos (or folders) to stamp")
    g.add_argument("-O", "--stamped", metavar="OUT", help="stamped photo file (one photo) or folder")
    g.add_argument("--position", choices=watermark.POSITIONS + (watermark.TILE,), default="bottom-right")
    g.add_argument("--scale", type=fraction, default=0.2, help="mark width as a fraction of the photo width")
    g.add_argument("--margin", type=non_negative_int, default=None, metavar="PX",
                   help="distance from the edges (default: 3%% of the shorter side)")
    g.add_argument("--spacing", type=non_negative_int, default=None, metavar="PX",
                   help="gap between tiles (default: the mark's height)")
    g.add_argument("--angle", type=number, default=0.0, metavar="DEG", help="rotation, counter-clockwise")
    p.set_defaults(func=cmd_watermark)


def _image_format(path: Path, allowed: tuple[str, ...]) -> str | None:
    fmt = {".jpg": "jpeg", ".jpeg": "jpeg"}.get(path.suffix.lower(), path.suffix.lower().lstrip("."))
    return fmt if fmt in allowed else None


def cmd_watermark(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if not _image_format(out, ("png", "webp")) or (args.mask and not _image_format(Path(args.mask), ("png", "webp"))):
        error(args.mask if _image_format(out, ("png", "webp")) else out, "the watermark must be saved as .png or .webp")
        return EXIT_USAGE
    if bool(args.onto) != bool(args.stamped):
        error("watermark", "--onto PHOTO and -O OUT go together")
        return EXIT_USAGE
    try:
        spec = watermark.WatermarkSpec(
            source=args.source, key_color=args.key_color,
            tolerance=args.tolerance, softness=args.softness, defringe=args.defringe, threshold=args.threshold,
            feather=args.feather, greyscale=args.greyscale, tint=args.tint,
            trim=args.trim, size=args.size, padding=args.padding, square=args.square, opacity=args.opacity)
        placement = watermark.PlacementSpec(position=args.position, scale=args.scale, margin=args.margin,
                                            spacing=args.spacing, angle=args.angle)
    except ValueError as exc:
        error("watermark", exc)
        return EXIT_USAGE
    try:
        logo = watermark.load_logo(args.logo)
        if watermark.choose_source(logo, spec.source) == "model":
            ensure_model(args.model)
        mark = watermark.make_watermark(logo, spec, session_config(args))
    except ImageLoadError as exc:
        error(args.logo, exc)
        return EXIT_REFUSED
    except ModelError as exc:
        error(args.model, exc)
        return EXIT_FAILED
    try:
        atomic_write_bytes(out, encode(mark.image, _image_format(out, ("png", "webp"))))
        if args.mask:
            atomic_write_bytes(Path(args.mask), encode(mark.mask, _image_format(Path(args.mask), ("png", "webp"))))
    except OSError as exc:
        error(out, f"cannot write: {exc.strerror or exc}")
        return EXIT_FAILED
    print(f"{args.logo} -> {out} ({mark.image.width}×{mark.image.height}, alpha from {mark.source})")
    if not args.onto:
        return EXIT_OK
    return _stamp_photos(args, mark.image, placement)


def _stamp_photos(args: argparse.Namespace, mark, placement) -> int:
    dest_arg = Path(args.stamped)
    single = (len(args.onto) == 1 and not Path(args.onto[0]).is_dir() and not dest_arg.is_dir()
              and dest_arg.suffix != "")
    if single and not _image_format(dest_arg, ("png", "webp", "jpeg")):
        error(dest_arg, "stamped photos are saved as .jpg, .png or .webp")
        return EXIT_USAGE
    if not single:
        dest_arg.mkdir(parents=True, exist_ok=True)
    refused = done = 0
    for src in expand_inputs(args.onto):
        dest = dest_arg
        try:
            photo = watermark.load_photo(src)
            fmt = _image_format(dest_arg, ("png", "webp", "jpeg")) if single else watermark.photo_format(photo)
            dest = dest_arg if single else dest_arg / f"{src.stem}-watermarked.{'jpg' if fmt == 'jpeg' else fmt}"
            data = watermark.encode_photo(watermark.stamp(photo, mark, placement), fmt)
            atomic_write_bytes(dest, data)
        except ImageLoadError as exc:
            error(src, exc)
        except ValueError as exc:  # e.g. a transparent photo asked to become a JPEG
            error(src, exc)
        except OSError as exc:
            error(dest, f"cannot write: {exc.strerror or exc}")
        except Exception as exc:  # one bad photo must not stop the others
            error(src, f"unexpected {type(exc).__name__}: {exc}")
        else:
            done += 1
            print(f"{src} -> {dest}")
            continue
        refused += 1
    if done + refused == 0:
        error(" ".join(args.onto), "no images found")
        return EXIT_REFUSED
    return EXIT_REFUSED if refused else EXIT_OK


# --- parser -------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rembg-lab", description="Background removal you can see into.")
    sub = parser.add_subparsers(dest="command", required=True)

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
    # batch (folders, zips, several files) -- rembg_core/batch_cli.py
    p.add_argument("--cache", metavar="DIR", default=None, help="reuse results stored in DIR (batch only)")
    p.add_argument("--cache-max-mb", type=positive_int, default=512, metavar="MB", help="cache size cap")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress line on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("models", help="list, fetch or verify models")
    p.add_argument("action", choices=("list", "fetch", "verify"))
    p.add_argument("name", nargs="?", choices=sorted(models.REGISTRY))
    p.set_defaults(func=cmd_models)

    # --- bench / probe (issue 3: isolated measurements; handlers live in bench.py / probe.py)
    p = sub.add_parser("bench", help="measure session configs, each in a fresh process")
    p.add_argument("--image", required=True, metavar="PATH")
    p.add_argument("--configs", choices=("flags", "full"), default="flags",
                   help="flags: arena x mem pattern; full: also shrinkage, threads, extend strategy, malloc env")
    p.add_argument("--repeats", type=positive_int, default=5)
    p.add_argument("--warmups", type=non_negative_int, default=2,
                   help="unmeasured runs first (mem pattern allocates on the 2nd)")
    p.add_argument("--max-size", type=positive_int, default=None)
    p.add_argument("--model", default=models.DEFAULT_MODEL, choices=sorted(models.REGISTRY))
    p.add_argument("--timeout", type=positive_int, default=300, help="seconds per config before the child is killed")
    p.add_argument("--json", metavar="OUT", default=None, help="write all records as JSON")
    p.add_argument("--csv", metavar="OUT", default=None, help="write the summary table as CSV")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("probe", help=argparse.SUPPRESS)  # the child side of bench; JSON on stdout
    p.add_argument("--spec", required=True)
    p.set_defaults(func=_cmd_probe)

    add_watermark_parser(sub)  # issue 6; the handler is above
    from .server import serve_cmd
    from .load import load_cmd

    serve_cmd.add_parser(sub)
    load_cmd.add_parser(sub)
    return parser


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import cmd_bench

    return cmd_bench(args)


def _cmd_probe(args: argparse.Namespace) -> int:
    from .probe import main as probe_main

    return probe_main(args.spec)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
