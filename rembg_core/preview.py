"""How a cutout is shown on screen: over a checkerboard, so transparency is visible."""

from __future__ import annotations

import numpy as np
from PIL import Image

LIGHT, DARK = (236, 236, 236), (196, 196, 196)
# Mid greys for watermarks, so that white marks and black marks both read on it.
MID_GREYS = ((178, 178, 178), (138, 138, 138))


def checkerboard(size: tuple[int, int], cell: int = 16,
                 colors: tuple[tuple[int, int, int], tuple[int, int, int]] = (LIGHT, DARK)) -> Image.Image:
    """An RGB checkerboard of `cell`-pixel squares, the usual 'this is transparent' pattern."""
    if cell < 1:
        raise ValueError("cell must be at least 1 pixel")
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    light = ((yy // cell + xx // cell) % 2 == 0)[..., None]
    out = np.where(light, np.asarray(colors[0], np.uint8), np.asarray(colors[1], np.uint8))
    return Image.fromarray(out.astype(np.uint8), "RGB")


def on_checkerboard(image: Image.Image, cell: int | None = None) -> Image.Image:
    """An RGBA/LA/L image composited over a checkerboard (L is shown as is: it is a mask)."""
    if image.mode == "L":
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    cell = cell or max(8, min(rgba.size) // 40)
    board = checkerboard(rgba.size, cell).convert("RGBA")
    return Image.alpha_composite(board, rgba).convert("RGB")


def app_icon(size: int = 64) -> Image.Image:
    """The dashboard's favicon, drawn here: a red disc cut out over a checkerboard. Served by the
    app itself, so no browser ever fetches an icon font or emoji image from another site."""
    from PIL import ImageDraw

    icon = checkerboard((size, size), max(4, size // 8)).convert("RGBA")
    ImageDraw.Draw(icon).ellipse((size * 0.14, size * 0.14, size * 0.86, size * 0.86), fill=(214, 40, 57, 255))
    return icon


def boxed_thumbnail(data: bytes, side: int, background: tuple[int, int, int] = (241, 244, 247)) -> bytes:
    """An encoded image shrunk to fit a side×side box and centred on it, as a JPEG of exactly
    side×side px: a 3×4000 strip and a 4000×3 one take the same room in a grid as a photo.
    Transparency is shown over a checkerboard."""
    import io

    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (side, side))  # JPEG: decode near the thumbnail's size, not at full size
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
        shown = on_checkerboard(im, cell=8) if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info \
            else im.convert("RGB")
    box = Image.new("RGB", (side, side), background)
    box.paste(shown, ((side - shown.width) // 2, (side - shown.height) // 2))
    out = io.BytesIO()
    box.save(out, "JPEG", quality=85)
    return out.getvalue()
