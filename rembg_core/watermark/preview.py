"""A logo to try things with, and marks shown over a checkerboard or a solid colour."""

from __future__ import annotations

from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from ..colors import RGB
from ..preview import MID_GREYS, checkerboard
from .shaping import pad


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


def on_background(mark: Image.Image, background: RGB | Literal["checker"] = "checker", border: int = 0) -> Image.Image:
    """The mark composited over a checkerboard or a solid colour (RGB), with `border` px around it."""
    rgba = pad(mark, border)
    base = checkerboard(rgba.size, 12, MID_GREYS) if background == "checker" else Image.new("RGB", rgba.size, tuple(background))
    out = base.convert("RGBA")
    out.alpha_composite(rgba)
    return out.convert("RGB")
