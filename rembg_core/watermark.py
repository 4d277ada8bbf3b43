"""Watermarks: from a logo or photo to a transparent mark, and that mark stamped onto photos.

Every step is a pure function on PIL images; `make_watermark` and `stamp` chain them from two
small frozen specs. Colours stay straight (never premultiplied) in everything handed back.

Order of the steps in `make_watermark`, and why:
  alpha source (own alpha | colour key | model) → defringe → threshold → feather → colour
  → trim → size → padding / square canvas → opacity.
Opacity comes last so that it is exact on the final pixels (alpha' = round(alpha × opacity));
padding comes after sizing so that it is measured in output pixels.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .imageio import ImageSource, load_image

RGB = tuple[int, int, int]
Source = Literal["auto", "alpha", "key", "model"]
SOURCES: tuple[str, ...] = ("auto", "alpha", "key", "model")
POSITIONS: tuple[str, ...] = (
    "top-left", "top", "top-right",
    "left", "center", "right",
    "bottom-left", "bottom", "bottom-right",
)
TILE = "tile"
# A border is "plain" when this share of its pixels lie within UNIFORM_DISTANCE of its median colour.
UNIFORM_SHARE = 0.9
UNIFORM_DISTANCE = 24.0
# The model's 320-px prediction, upscaled, leaves a haze of alpha 1..4 over the whole frame:
# invisible (under 2 %), but it would stop --trim from trimming anything. Cleared to 0.
MODEL_HAZE = 4
# Colour key: a pixel this close to its neighbourhood's solid colour counts as solid.
OPAQUE_SNAP = 0.95


NAMED_COLORS: dict[str, RGB] = {"white": (255, 255, 255), "black": (0, 0, 0)}


def parse_rgb(text: str) -> RGB:
    """'#RGB', '#RRGGBB', 'R,G,B' or 'white'/'black' → (r, g, b). What designers type for a tint."""
    s = text.strip().lower()
    if s in NAMED_COLORS:
        return NAMED_COLORS[s]
    if s.startswith("#") and len(s) == 4 and all(c in "0123456789abcdef" for c in s[1:]):
        s = "#" + "".join(c * 2 for c in s[1:])
    from .compose import parse_color

    try:
        r, g, b, a = parse_color(s)
    except ValueError:
        raise ValueError(f"colour {text!r} must be #RGB, #RRGGBB, R,G,B (0-255) or white/black") from None
    if a != 255:
        raise ValueError(f"colour {text!r}: give the transparency with opacity, not in the colour")
    return r, g, b


# --- specs --------------------------------------------------------------------

def _check_rgb(value: object, name: str) -> None:
    if value is None:
        return
    if (not isinstance(value, tuple) or len(value) != 3
            or not all(isinstance(c, int) and 0 <= c <= 255 for c in value)):
        raise ValueError(f"{name} must be an (R, G, B) tuple of whole numbers 0-255, got {value!r}")


@dataclass(frozen=True)
class WatermarkSpec:
    """How to turn a logo into a transparent watermark. Defaults leave the logo as it is."""

    source: Source = "auto"  # where alpha comes from; auto = own alpha, else key if the border is plain, else model
    key_color: RGB | None = None  # colour key background; None = detected from the border
    tolerance: float = 16.0  # colour distance (RGB, 0..441) still counted as background
    softness: float = 64.0  # alpha ramps from 0 to 1 between tolerance and tolerance + softness
    defringe: bool = True  # un-mix the background colour from semi-transparent edge pixels
    threshold: int | None = None  # hard edge: alpha >= threshold → opaque, else transparent
    feather: float = 0.0  # soft edge: Gaussian blur radius of alpha, in pixels of the source
    greyscale: bool = False
    tint: RGB | None = None  # one flat colour for the whole mark (e.g. white)
    trim: bool = False  # cut transparent margins
    size: int | None = None  # longest side of the mark itself, in px
    padding: int = 0  # transparent px added on every side, after sizing
    square: bool = False  # centre on a square canvas
    opacity: float = 1.0  # baked into alpha

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown alpha source {self.source!r} (one of {', '.join(SOURCES)})")
        _check_rgb(self.key_color, "key colour")
        _check_rgb(self.tint, "tint")
        if not 0 <= self.tolerance <= 442:
            raise ValueError(f"tolerance must be 0-442 (an RGB distance), got {self.tolerance}")
        if not 0 <= self.softness <= 442:
            raise ValueError(f"softness must be 0-442 (an RGB distance), got {self.softness}")
        if self.threshold is not None and not (isinstance(self.threshold, int) and 1 <= self.threshold <= 255):
            raise ValueError(f"threshold must be a whole number 1-255, got {self.threshold!r}")
        if not 0 <= self.feather <= 250:
            raise ValueError(f"feather must be 0-250 px, got {self.feather}")
        if self.greyscale and self.tint is not None:
            raise ValueError("choose greyscale or a tint colour, not both")
        if self.size is not None and not (isinstance(self.size, int) and 1 <= self.size <= 20_000):
            raise ValueError(f"size must be a whole number of pixels 1-20000, got {self.size!r}")
        if not (isinstance(self.padding, int) and 0 <= self.padding <= 10_000):
            raise ValueError(f"padding must be a whole number of pixels 0-10000, got {self.padding!r}")
        if not (isinstance(self.opacity, (int, float)) and 0.0 <= self.opacity <= 1.0):
            raise ValueError(f"opacity must be between 0 and 1, got {self.opacity!r}")


@dataclass(frozen=True)
class PlacementSpec:
    """Where and how big a watermark goes on a photo."""

    position: str = "bottom-right"  # one of POSITIONS, or "tile"
    scale: float | None = 0.2  # mark width as a fraction of the photo's width; None = the mark's own size
    margin: int | None = None  # px from the photo's edges; None = 3 % of the photo's shorter side
    spacing: int | None = None  # px between tiles; None = the mark's height
    angle: float = 0.0  # degrees, counter-clockwise
    stagger: bool = True  # tile: shift every other row by half a step (a brick pattern)

    def __post_init__(self) -> None:
        if self.position not in POSITIONS + (TILE,):
            raise ValueError(f"unknown position {self.position!r} (one of {', '.join(POSITIONS)}, or tile)")
        if self.scale is not None and not (isinstance(self.scale, (int, float)) and 0 < self.scale <= 1):
            raise ValueError(f"scale must be a fraction of the photo's width, above 0 and at most 1, got {self.scale!r}")
        if self.margin is not None and not (isinstance(self.margin, int) and self.margin >= 0):
            raise ValueError(f"margin must be a whole number of pixels, 0 or more, got {self.margin!r}")
        if self.spacing is not None and not (isinstance(self.spacing, int) and self.spacing >= 0):
            raise ValueError(f"spacing must be a whole number of pixels, 0 or more, got {self.spacing!r}")
        if not (isinstance(self.angle, (int, float)) and math.isfinite(self.angle)):
            raise ValueError(f"angle must be a number of degrees, got {self.angle!r}")


# --- alpha sources ------------------------------------------------------------

def _rgba(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGBA" else image.convert("RGBA")


def own_alpha(image: Image.Image) -> Image.Image | None:
    """The image's own transparency (L), or None when it is fully opaque."""
    if "A" not in image.getbands() and "transparency" not in image.info:
        return None
    alpha = _rgba(image).getchannel("A")
    return None if alpha.getextrema() == (255, 255) else alpha


def border_pixels(image: Image.Image, width: int = 2) -> np.ndarray:
    """The outer `width`-pixel ring of an image as an (N, 3) float32 RGB array."""
    a = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = a.shape[:2]
    b = max(1, min(width, h // 2, w // 2))
    ring = np.ones((h, w), bool)
    ring[b:h - b, b:w - b] = False
    return a[ring]


def detect_background(image: Image.Image) -> tuple[RGB, bool]:
    """The border's median colour, and whether the border is plain (one colour, give or take noise)."""
    px = border_pixels(image)
    median = np.median(px, axis=0)
    near = np.linalg.norm(px - median, axis=1) <= UNIFORM_DISTANCE
    color = tuple(int(round(float(c))) for c in median)
    return color, bool(near.mean() >= UNIFORM_SHARE)  # type: ignore[return-value]


def _local_max(a: np.ndarray, reach: int) -> np.ndarray:
    """Maximum over a (2·reach+1)² window around each pixel (separable, in place; edges replicate)."""
    out = a
    for axis in (0, 1):
        p = np.pad(out, [(reach, reach) if i == axis else (0, 0) for i in range(2)], mode="edge")
        n = out.shape[axis]
        window = (lambda k: p[k:k + n]) if axis == 0 else (lambda k: p[:, k:k + n])
        out = window(0).copy()
        for k in range(1, 2 * reach + 1):
            np.maximum(out, window(k), out=out)
    return out


def _distance(image: Image.Image, color: RGB) -> np.ndarray:
    """Euclidean RGB distance of every pixel to `color`, float32, one channel at a time (bounded memory)."""
    rgb = np.asarray(image.convert("RGB"))
    d2 = np.zeros(rgb.shape[:2], np.float32)
    for c in range(3):
        t = rgb[..., c].astype(np.float32)
        t -= color[c]
        d2 += t * t
    return np.sqrt(d2, out=d2)


def color_key(image: Image.Image, key: RGB, tolerance: float = 16.0, softness: float = 64.0,
              reach: int = 3) -> Image.Image:
    """Alpha (L) from each pixel's colour distance d to `key` (Euclidean, 8-bit RGB).

    An anti-aliased edge pixel is a mix C = a·F + (1 − a)·B of the logo colour F and the key B,
    so a = |C − B| / |F − B|. |F − B| is estimated as the largest distance within `reach` px
    (the solid colour next to the edge), but never less than tolerance + softness. Pixels within
    `tolerance` of the key are transparent; softness 0 gives a hard key.
    """
    d = _distance(image, key)
    if softness <= 0:
        return Image.fromarray(((d > tolerance) * 255).astype(np.uint8), "L")
    full = np.maximum(_local_max(d, reach) if reach > 0 else d, tolerance + softness)
    ramp = np.clip((d - tolerance) / (full - tolerance), 0.0, 1.0)
    # Resampling rings: a pixel next to an edge can overshoot past the solid colour, which would
    # leave its solid neighbours a few % transparent (a faint line on dark photos). Snap those.
    alpha = np.where(ramp >= OPAQUE_SNAP, 1.0, ramp) * 255.0
    return Image.fromarray(np.rint(alpha).astype(np.uint8), "L")


def model_alpha(image: Image.Image, config=None, session=None) -> Image.Image:
    """Alpha (L) from the background-removal model (rembg_core.pipeline.remove).

    `config` (a SessionConfig) or an already loaded `session` (e.g. the app's shared one).
    """
    from .pipeline import remove  # the model stack loads only when asked for

    return remove(image.convert("RGB"), config, session=session).mask


def multiply_alpha(a: Image.Image, b: Image.Image | None) -> Image.Image:
    if b is None:
        return a
    out = (np.asarray(a, np.uint16) * np.asarray(b, np.uint16) + 127) // 255
    return Image.fromarray(out.astype(np.uint8), "L")


def choose_source(image: Image.Image, requested: str = "auto") -> str:
    """Resolve "auto": the logo's own alpha if it has one, a colour key on a plain border, else the model."""
    if requested != "auto":
        return requested
    if own_alpha(image) is not None:
        return "alpha"
    return "key" if detect_background(image)[1] else "model"


# --- alpha shaping and colour -------------------------------------------------

def defringe(image: Image.Image, background: RGB) -> Image.Image:
    """Un-mix `background` from semi-transparent pixels: F = (C − (1 − a)·B) / a, clipped to 0..255.

    A soft edge pixel of a logo on white is the logo colour mixed with white; shown on a dark
    photo it would glow. Opaque and fully transparent pixels are left alone.
    """
    out = np.array(_rgba(image))  # a writable copy
    a = out[..., 3].astype(np.float32) / 255.0
    soft = (a > 0) & (a < 1)
    safe = np.where(soft, a, 1.0)
    for c in range(3):  # channel by channel: a few float32 planes, not an H×W×4 float copy
        f = out[..., c].astype(np.float32)
        f -= (1.0 - a) * background[c]
        f /= safe
        np.clip(np.rint(f, out=f), 0, 255, out=f)
        out[..., c] = np.where(soft, f, out[..., c])
    return Image.fromarray(out, "RGBA")


def threshold_alpha(image: Image.Image, threshold: int) -> Image.Image:
    """Hard edge: alpha >= threshold becomes 255, everything else 0."""
    out = _rgba(image).copy()
    out.putalpha(out.getchannel("A").point(lambda v: 255 if v >= threshold else 0))
    return out


def feather_alpha(image: Image.Image, radius: float) -> Image.Image:
    """Soft edge: Gaussian-blur alpha by `radius` px.

    Blurred premultiplied, so pixels that become visible take the colour of the mark next to
    them rather than whatever (usually the old background) was under alpha 0.
    """
    if radius <= 0:
        return _rgba(image).copy()
    return _rgba(image).convert("RGBa").filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")


def greyscale(image: Image.Image) -> Image.Image:
    """RGB → luma (ITU-R 601, as Pillow's "L"), alpha kept."""
    rgba = _rgba(image)
    grey = rgba.convert("L")
    out = Image.merge("RGBA", (grey, grey, grey, rgba.getchannel("A")))
    return out


def tint(image: Image.Image, color: RGB) -> Image.Image:
    """Every pixel takes `color`; only alpha carries the shape."""
    out = Image.new("RGBA", image.size, tuple(color) + (0,))
    out.putalpha(_rgba(image).getchannel("A"))
    return out


def apply_opacity(image: Image.Image, opacity: float) -> Image.Image:
    """alpha' = round(alpha × opacity), with Python's round (half to even), exactly."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity!r}")
    out = _rgba(image).copy()
    a = np.asarray(out.getchannel("A"), dtype=np.float64)
    out.putalpha(Image.fromarray(np.rint(a * opacity).astype(np.uint8), "L"))
    return out


# --- geometry -----------------------------------------------------------------

def alpha_bbox(image: Image.Image) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the pixels with alpha > 0; None when all are transparent."""
    return _rgba(image).getchannel("A").getbbox()


def trim(image: Image.Image) -> Image.Image:
    """Cut fully transparent margins. An all-transparent image is returned unchanged."""
    box = alpha_bbox(image)
    return _rgba(image).crop(box) if box else _rgba(image).copy()


def pad(image: Image.Image, padding: int) -> Image.Image:
    """Add `padding` transparent px on every side."""
    rgba = _rgba(image)
    if padding <= 0:
        return rgba.copy()
    out = Image.new("RGBA", (rgba.width + 2 * padding, rgba.height + 2 * padding), (0, 0, 0, 0))
    out.paste(rgba, (padding, padding))
    return out


def square_canvas(image: Image.Image) -> Image.Image:
    """Centre on a transparent square as large as the longest side (odd spare px go right/bottom)."""
    rgba = _rgba(image)
    side = max(rgba.size)
    out = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    out.paste(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    return out


def fit_longest(image: Image.Image, longest: int) -> Image.Image:
    """Resize so the longest side is `longest` px (up or down; Pillow resizes RGBA premultiplied)."""
    rgba = _rgba(image)
    w, h = rgba.size
    scale = longest / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return rgba.copy() if size == rgba.size else rgba.resize(size, Image.Resampling.LANCZOS)


def rotate(image: Image.Image, angle: float) -> Image.Image:
    """Rotate counter-clockwise by `angle` degrees on an enlarged canvas, trimmed to the mark."""
    rgba = _rgba(image)
    if angle % 360 == 0:
        return rgba.copy()
    turned = rgba.convert("RGBa").rotate(angle, Image.Resampling.BICUBIC, expand=True).convert("RGBA")
    return trim(turned)


# --- the chain ----------------------------------------------------------------

@dataclass(frozen=True)
class Watermark:
    image: Image.Image  # RGBA, straight colour
    source: str  # the alpha source actually used: alpha | key | model
    background: RGB | None  # the key / detected background colour, when there was one

    @property
    def mask(self) -> Image.Image:
        return self.image.getchannel("A")


def extract(logo: Image.Image, spec: WatermarkSpec, config=None, session=None) -> Watermark:
    """Logo → RGBA with alpha from the chosen source (and its own transparency kept)."""
    source = choose_source(logo, spec.source)
    rgb = logo.convert("RGB")
    own = own_alpha(logo)
    background: RGB | None = None
    if source == "alpha":
        alpha = own if own is not None else Image.new("L", logo.size, 255)
    elif source == "key":
        background = spec.key_color or detect_background(logo)[0]
        alpha = multiply_alpha(color_key(rgb, background, spec.tolerance, spec.softness), own)
    else:
        mask = model_alpha(rgb, config, session).point(lambda v: 0 if v <= MODEL_HAZE else v)
        alpha = multiply_alpha(mask, own)
        color, plain = detect_background(logo)
        background = spec.key_color or (color if plain else None)
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return Watermark(out, source, background)


def finish(wm: Watermark, spec: WatermarkSpec) -> Watermark:
    """Every step after the alpha source, in the order the module docstring gives."""
    im = wm.image
    if spec.defringe and wm.background is not None and spec.tint is None:  # a tint replaces colour anyway
        im = defringe(im, wm.background)
    if spec.threshold is not None:
        im = threshold_alpha(im, spec.threshold)
    if spec.feather > 0:
        im = feather_alpha(im, spec.feather)
    if spec.tint is not None:
        im = tint(im, spec.tint)
    elif spec.greyscale:
        im = greyscale(im)
    if spec.trim:
        im = trim(im)
    if spec.size is not None:
        im = fit_longest(im, spec.size)
    if spec.padding:
        im = pad(im, spec.padding)
    if spec.square:
        im = square_canvas(im)
    if spec.opacity != 1.0:
        im = apply_opacity(im, spec.opacity)
    return replace(wm, image=im)


def make_watermark(logo: Image.Image, spec: WatermarkSpec = WatermarkSpec(), config=None,
                   session=None) -> Watermark:
    """Logo → watermark: `extract` then `finish`. `config`/`session` are only used by the model source."""
    return finish(extract(logo, spec, config, session), spec)


# --- stamping photos ----------------------------------------------------------

def load_logo(source: ImageSource) -> Image.Image:
    """A logo as RGB, or RGBA when it has its own transparency, through imageio.load_image (limits, clear errors)."""
    loaded = load_image(source)
    if loaded.alpha is None:
        return loaded.rgb
    logo = loaded.rgb.convert("RGBA")
    logo.putalpha(loaded.alpha)
    return logo


def load_photo(source: ImageSource, max_size: int | None = None) -> Image.Image:
    """A photo in displayed orientation (EXIF applied), in a mode `stamp` keeps.

    Loading goes through imageio.load_image (limits, clear errors; `max_size` caps the longest
    side, for previews). Greyscale stays greyscale (L / LA); everything else becomes RGB, or RGBA
    when it has transparency. The ICC profile is kept in `.info["icc_profile"]` and the full
    size in `.info["original_size"]`; EXIF is not carried over (the pixels are already upright).
    """
    loaded = load_image(source, max_size=max_size)
    mode, has_alpha = _source_mode(source)
    alpha = loaded.alpha
    if alpha is None and has_alpha:  # an opaque RGBA file is still an RGBA file
        alpha = Image.new("L", loaded.size, 255)
    if mode in ("1", "L", "LA", "La", "I", "I;16", "F"):
        base = loaded.rgb.convert("L")
        photo = base if alpha is None else Image.merge("LA", (base, alpha))
    elif alpha is None:
        photo = loaded.rgb
    else:
        photo = loaded.rgb.convert("RGBA")
        photo.putalpha(alpha)
    if loaded.icc_profile:
        photo.info["icc_profile"] = loaded.icc_profile
    photo.info["original_size"] = loaded.original_size
    photo.format = loaded.format  # type: ignore[attr-defined]  # the format we read, for choosing an output
    return photo


def _source_mode(source: ImageSource) -> tuple[str, bool]:
    """The stored mode and whether it carries alpha, from the header only (load_image has vetted the file)."""
    if isinstance(source, Image.Image):
        im = source
    else:
        fp = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
        im = Image.open(fp)
    try:
        mode = "L" if im.mode == "P" and _palette_is_grey(im) else im.mode
        return mode, ("A" in im.getbands() or "a" in im.mode or "transparency" in im.info)
    finally:
        if im is not source:
            im.close()


def _palette_is_grey(im: Image.Image) -> bool:
    pal = im.getpalette() or []
    return all(pal[i] == pal[i + 1] == pal[i + 2] for i in range(0, len(pal) - 2, 3))


def mark_for(photo_size: tuple[int, int], mark: Image.Image, placement: PlacementSpec) -> Image.Image:
    """The mark scaled for this photo (width = scale × photo width, never taller than fits) and rotated."""
    mark = _rgba(mark)
    if placement.scale is not None:
        w, h = photo_size
        margin = margin_for(photo_size, placement)
        target_w = max(1, round(w * placement.scale))
        target_h = target_w * mark.height / mark.width
        room = max(1, h - 2 * margin) if placement.position != TILE else h
        if target_h > room:  # a tall mark would run off the photo
            target_w = max(1, round(target_w * room / target_h))
        target_h = max(1, round(target_w * mark.height / mark.width))
        if (target_w, target_h) != mark.size:
            mark = mark.resize((target_w, target_h), Image.Resampling.LANCZOS)
    return rotate(mark, placement.angle)


def margin_for(photo_size: tuple[int, int], placement: PlacementSpec) -> int:
    return placement.margin if placement.margin is not None else round(0.03 * min(photo_size))


def position_xy(photo_size: tuple[int, int], mark_size: tuple[int, int], position: str, margin: int) -> tuple[int, int]:
    """Top-left corner of a mark at one of the 9 positions, `margin` px in from the edges."""
    if position not in POSITIONS:
        raise ValueError(f"unknown position {position!r} (one of {', '.join(POSITIONS)})")
    (w, h), (mw, mh) = photo_size, mark_size
    row, col = divmod(POSITIONS.index(position), 3)
    x = (margin, (w - mw) // 2, w - mw - margin)[col]
    y = (margin, (h - mh) // 2, h - mh - margin)[row]
    return x, y


def tile_positions(photo_size: tuple[int, int], mark_size: tuple[int, int], spacing: int,
                   stagger: bool = True) -> list[tuple[int, int]]:
    """Top-left corners of a grid of marks covering the photo, centred on it.

    One tile sits exactly in the centre; the step is mark size + spacing; with `stagger` every
    odd row is shifted right by half a horizontal step. Only tiles that touch the photo are listed.
    """
    (w, h), (mw, mh) = photo_size, mark_size
    sx, sy = mw + spacing, mh + spacing
    cx, cy = (w - mw) // 2, (h - mh) // 2
    out: list[tuple[int, int]] = []
    j0 = -math.ceil((cy + mh) / sy)
    j1 = math.ceil((h - cy) / sy)
    for j in range(j0, j1 + 1):
        y = cy + j * sy
        if y >= h or y + mh <= 0:
            continue
        shift = sx // 2 if stagger and j % 2 else 0
        i0 = -math.ceil((cx + shift + mw) / sx)
        i1 = math.ceil((w - cx - shift) / sx)
        for i in range(i0, i1 + 1):
            x = cx + shift + i * sx
            if x < w and x + mw > 0:
                out.append((x, y))
    return out


def _over(base: Image.Image, mark: Image.Image, xy: tuple[int, int]) -> None:
    """Alpha-composite `mark` onto RGBA `base` at xy, in place; parts outside the base are cut."""
    x, y = xy
    left, top = max(0, -x), max(0, -y)
    right, bottom = min(mark.width, base.width - x), min(mark.height, base.height - y)
    if right <= left or bottom <= top:
        return
    base.alpha_composite(mark, dest=(x + left, y + top), source=(left, top, right, bottom))


def stamp(photo: Image.Image, mark: Image.Image, placement: PlacementSpec = PlacementSpec()) -> Image.Image:
    """The photo with the mark composited "over" it. Same size and mode as the photo.

    RGB → RGB, RGBA → RGBA (a mark over a transparent area of the photo shows, as layers do
    in an editor), L → L and LA → LA (the mark rendered in grey); other modes come back RGB(A).
    """
    mode = photo.mode if photo.mode in ("RGB", "RGBA", "L", "LA") else ("RGBA" if own_alpha(photo) else "RGB")
    base = photo.convert("RGBA")
    placed = mark_for(photo.size, mark, placement)
    if placement.position == TILE:
        spacing = placement.spacing if placement.spacing is not None else placed.height
        spots = tile_positions(photo.size, placed.size, spacing, placement.stagger)
    else:
        spots = [position_xy(photo.size, placed.size, placement.position, margin_for(photo.size, placement))]
    for xy in spots:
        _over(base, placed, xy)
    out = base.convert(mode)
    if "icc_profile" in photo.info:
        out.info["icc_profile"] = photo.info["icc_profile"]
    return out


def photo_format(photo: Image.Image) -> str:
    """The output format that suits a stamped photo: JPEG stays JPEG, WebP stays WebP, else PNG."""
    fmt = (getattr(photo, "format", None) or "").upper()
    if fmt in ("JPEG", "MPO") and photo.mode in ("RGB", "L"):
        return "jpeg"
    return "webp" if fmt == "WEBP" else "png"


def encode_photo(image: Image.Image, fmt: str) -> bytes:
    """Bytes of a stamped photo. JPEG keeps L as L (imageio.encode would make it RGB) and refuses alpha."""
    fmt = fmt.lower()
    icc = image.info.get("icc_profile")
    if fmt in ("jpg", "jpeg"):
        if image.mode not in ("RGB", "L"):
            raise ValueError("JPEG cannot hold transparency; save the stamped photo as PNG or WebP")
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=92, **({"icc_profile": icc} if icc else {}))
        return buf.getvalue()
    from .imageio import encode

    return encode(image, fmt, icc)


# --- a logo to try things with ------------------------------------------------

def sample_logo(size: tuple[int, int] = (720, 360)) -> Image.Image:
    """A flat logo on white, drawn at runtime: a ring, a leaf-like shape and a word mark.

    Anti-aliased (drawn at 4× and box-reduced) so it has the soft edges real logo exports have.
    """
    w, h = size
    k = 4
    im = Image.new("RGB", (w * k, h * k), (255, 255, 255))
    d = ImageDraw.Draw(im)
    s = h * k
    cx, cy, r = int(s * 0.5), s // 2, int(s * 0.3)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(29, 78, 216))
    d.ellipse((cx - r * 0.62, cy - r * 0.62, cx + r * 0.62, cy + r * 0.62), fill=(255, 255, 255))
    d.polygon([(cx - r * 0.35, cy + r * 0.35), (cx + r * 0.05, cy - r * 0.45), (cx + r * 0.4, cy + r * 0.35)],
              fill=(234, 88, 12))
    font = ImageFont.load_default(size=int(s * 0.2))
    x = int(s * 0.9)
    d.text((x, cy), "REMBG", font=font, fill=(17, 24, 39), anchor="ls")
    small = ImageFont.load_default(size=int(s * 0.13))
    d.text((x + 4 * k, cy + int(s * 0.05)), "LAB STUDIO", font=small, fill=(29, 78, 216), anchor="lt")
    return im.reduce(k)


# --- previews -----------------------------------------------------------------

# Mid greys, so that white marks and black marks both read on it.
CHECKER_LIGHT, CHECKER_DARK = (178, 178, 178), (138, 138, 138)


def checkerboard(size: tuple[int, int], cell: int = 12,
                 colors: tuple[RGB, RGB] = (CHECKER_LIGHT, CHECKER_DARK)) -> Image.Image:
    """The usual "this is transparent" pattern, RGB."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    odd = ((xx // cell + yy // cell) % 2).astype(bool)
    out = np.where(odd[..., None], np.asarray(colors[1], np.uint8), np.asarray(colors[0], np.uint8))
    return Image.fromarray(out.astype(np.uint8), "RGB")


def on_background(mark: Image.Image, background: RGB | Literal["checker"] = "checker", border: int = 0) -> Image.Image:
    """The mark composited over a checkerboard or a solid colour (RGB), with `border` px around it."""
    rgba = pad(mark, border)
    base = checkerboard(rgba.size) if background == "checker" else Image.new("RGB", rgba.size, tuple(background))
    out = base.convert("RGBA")
    out.alpha_composite(rgba)
    return out.convert("RGB")
