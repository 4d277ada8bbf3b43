"""`watermark LOGO -o OUT [...] [--onto PHOTO... -O OUT]`: a logo becomes a transparent mark, optionally stamped onto photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from .. import watermark as W
from ..atomic import atomic_write_bytes
from ..errors import ImageLoadError, ModelError
from ..imageio import encode
from ..naming import OutputNames
from .common import (
    ExitCode,
    add_session_flags,
    cannot_write,
    ensure_model,
    error,
    expand_inputs,
    fraction,
    image_format,
    non_negative_int,
    number,
    outcome,
    positive_int,
    rgb,
    session_config,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watermark", help="turn a logo into a transparent watermark; stamp it onto photos",
                       description="Logo → transparent watermark (PNG/WebP), optionally stamped onto photos. "
                                   "Alpha source 'auto': the logo's own transparency if it has any, else a colour "
                                   "key when its border is one plain colour, else the model.")
    p.add_argument("logo", metavar="LOGO")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="watermark file (.png or .webp)")
    p.add_argument("--mask", metavar="MASK", help="also write the watermark's alpha alone (greyscale PNG/WebP)")
    g = p.add_argument_group("alpha source")
    g.add_argument("--source", choices=W.SOURCES, default="auto")
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
    g.add_argument("--position", choices=W.POSITIONS + (W.TILE,), default="bottom-right")
    g.add_argument("--scale", type=fraction, default=0.2, help="mark width as a fraction of the photo width")
    g.add_argument("--margin", type=non_negative_int, default=None, metavar="PX",
                   help="distance from the edges (default: 3%% of the shorter side)")
    g.add_argument("--spacing", type=non_negative_int, default=None, metavar="PX",
                   help="gap between tiles (default: the mark's height)")
    g.add_argument("--angle", type=number, default=0.0, metavar="DEG", help="rotation, counter-clockwise")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    out_fmt = image_format(out, ("png", "webp"))
    mask_fmt = image_format(Path(args.mask), ("png", "webp")) if args.mask else "png"
    if not out_fmt or not mask_fmt:
        error(out if not out_fmt else args.mask, "the watermark must be saved as .png or .webp")
        return ExitCode.USAGE
    if bool(args.onto) != bool(args.stamped):
        error("watermark", "--onto PHOTO and -O OUT go together")
        return ExitCode.USAGE
    try:
        spec = W.WatermarkSpec(
            source=args.source, key_color=args.key_color,
            tolerance=args.tolerance, softness=args.softness, defringe=args.defringe, threshold=args.threshold,
            feather=args.feather, greyscale=args.greyscale, tint=args.tint,
            trim=args.trim, size=args.size, padding=args.padding, square=args.square, opacity=args.opacity)
        placement = W.PlacementSpec(position=args.position, scale=args.scale, margin=args.margin,
                                    spacing=args.spacing, angle=args.angle)
    except ValueError as exc:
        error("watermark", exc)
        return ExitCode.USAGE
    try:
        logo = W.load_logo(args.logo)
        if W.choose_source(logo, spec.source) == "model":
            ensure_model(args.model)
        mark = W.make_watermark(logo, spec, session_config(args))
    except ImageLoadError as exc:
        error(args.logo, exc)
        return ExitCode.REFUSED
    except ModelError as exc:
        error(args.model, exc)
        return ExitCode.UNAVAILABLE
    try:
        atomic_write_bytes(out, encode(mark.image, out_fmt))
        if args.mask:
            atomic_write_bytes(Path(args.mask), encode(mark.mask, mask_fmt))
    except OSError as exc:
        error(out, cannot_write(exc))
        return ExitCode.UNAVAILABLE
    print(f"{args.logo} -> {out} ({mark.image.width}×{mark.image.height}, alpha from {mark.source})")
    if not args.onto:
        return ExitCode.OK
    return _stamp_photos(args, mark.image, placement)


def _stamp_photos(args: argparse.Namespace, mark: Image.Image, placement: W.PlacementSpec) -> int:
    dest_arg = Path(args.stamped)
    single = (len(args.onto) == 1 and not Path(args.onto[0]).is_dir() and not dest_arg.is_dir()
              and dest_arg.suffix != "")
    single_fmt = image_format(dest_arg, ("png", "webp", "jpeg"))
    if single and not single_fmt:
        error(dest_arg, "stamped photos are saved as .jpg, .png or .webp")
        return ExitCode.USAGE
    if not single:
        dest_arg.mkdir(parents=True, exist_ok=True)
    names = OutputNames(suffix="-watermarked")  # a/x.jpg and b/x.jpg must not overwrite each other
    done = refused = unwritable = 0
    for src in expand_inputs(args.onto):
        dest = dest_arg
        try:
            photo = W.load_photo(src)
            fmt = single_fmt if single and single_fmt else W.photo_format(photo)
            data = W.encode_photo(W.stamp(photo, mark, placement), fmt)
            dest = dest_arg if single else dest_arg / names(src.name, fmt)
        except ImageLoadError as exc:
            error(src, exc)
        except ValueError as exc:  # e.g. a transparent photo asked to become a JPEG
            error(src, exc)
        except Exception as exc:  # one bad photo must not stop the others
            error(src, f"unexpected {type(exc).__name__}: {exc}")
        else:
            try:
                atomic_write_bytes(dest, data)
            except OSError as exc:
                error(dest, cannot_write(exc))
                unwritable += 1
            else:
                done += 1
                print(f"{src} -> {dest}")
            continue
        refused += 1
    if done + refused + unwritable == 0:
        error(" ".join(args.onto), "no images found")
        return ExitCode.REFUSED
    return outcome(refused, unwritable)
