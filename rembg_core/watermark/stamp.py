"""Stamping a mark onto photos: loading them as they are, placing (corner, edge, centre or tiled), encoding."""

from __future__ import annotations

import io
import math

from PIL import Image

from ..imageio import ImageSource, encode, load_image
from .alpha import own_alpha
from .shaping import as_rgba, rotate
from .spec import POSITIONS, TILE, PlacementSpec


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
    photo.format = loaded.format  # the format we read, for choosing an output
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
    mark = as_rgba(mark)
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
    """Bytes of a stamped photo in `fmt`, with its colour profile; JPEG refuses transparency."""
    return encode(image, fmt, image.info.get("icc_profile"))
