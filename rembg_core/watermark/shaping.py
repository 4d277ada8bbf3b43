"""Edge shaping, colour and geometry of a mark: defringe, threshold, feather, tint, opacity, trim, size, pad."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from ..colors import RGB


def as_rgba(image: Image.Image) -> Image.Image:
    """The image as RGBA (a no-op when it already is)."""
    return image if image.mode == "RGBA" else image.convert("RGBA")


def defringe(image: Image.Image, background: RGB) -> Image.Image:
    """Un-mix `background` from semi-transparent pixels: F = (C − (1 − a)·B) / a, clipped to 0..255.

    A soft edge pixel of a logo on white is the logo colour mixed with white; shown on a dark
    photo it would glow. Opaque and fully transparent pixels are left alone.
    """
    out = np.array(as_rgba(image))  # a writable copy
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
    out = as_rgba(image).copy()
    out.putalpha(out.getchannel("A").point(lambda v: 255 if v >= threshold else 0))
    return out


def feather_alpha(image: Image.Image, radius: float) -> Image.Image:
    """Soft edge: Gaussian-blur alpha by `radius` px.

    Blurred premultiplied, so pixels that become visible take the colour of the mark next to
    them rather than whatever (usually the old background) was under alpha 0.
    """
    if radius <= 0:
        return as_rgba(image).copy()
    return as_rgba(image).convert("RGBa").filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")


def greyscale(image: Image.Image) -> Image.Image:
    """RGB → luma (ITU-R 601, as Pillow's "L"), alpha kept."""
    rgba = as_rgba(image)
    grey = rgba.convert("L")
    out = Image.merge("RGBA", (grey, grey, grey, rgba.getchannel("A")))
    return out


def tint(image: Image.Image, color: RGB) -> Image.Image:
    """Every pixel takes `color`; only alpha carries the shape."""
    out = Image.new("RGBA", image.size, tuple(color) + (0,))
    out.putalpha(as_rgba(image).getchannel("A"))
    return out


def apply_opacity(image: Image.Image, opacity: float) -> Image.Image:
    """alpha' = round(alpha × opacity), with Python's round (half to even), exactly."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity!r}")
    out = as_rgba(image).copy()
    a = np.asarray(out.getchannel("A"), dtype=np.float64)
    out.putalpha(Image.fromarray(np.rint(a * opacity).astype(np.uint8), "L"))
    return out


def alpha_bbox(image: Image.Image) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the pixels with alpha > 0; None when all are transparent."""
    return as_rgba(image).getchannel("A").getbbox()


def trim(image: Image.Image) -> Image.Image:
    """Cut fully transparent margins. An all-transparent image is returned unchanged."""
    box = alpha_bbox(image)
    return as_rgba(image).crop(box) if box else as_rgba(image).copy()


def pad(image: Image.Image, padding: int) -> Image.Image:
    """Add `padding` transparent px on every side."""
    rgba = as_rgba(image)
    if padding <= 0:
        return rgba.copy()
    out = Image.new("RGBA", (rgba.width + 2 * padding, rgba.height + 2 * padding), (0, 0, 0, 0))
    out.paste(rgba, (padding, padding))
    return out


def square_canvas(image: Image.Image) -> Image.Image:
    """Centre on a transparent square as large as the longest side (odd spare px go right/bottom)."""
    rgba = as_rgba(image)
    side = max(rgba.size)
    out = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    out.paste(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    return out


def fit_longest(image: Image.Image, longest: int) -> Image.Image:
    """Resize so the longest side is `longest` px (up or down; Pillow resizes RGBA premultiplied)."""
    rgba = as_rgba(image)
    w, h = rgba.size
    scale = longest / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return rgba.copy() if size == rgba.size else rgba.resize(size, Image.Resampling.LANCZOS)


def rotate(image: Image.Image, angle: float) -> Image.Image:
    """Rotate counter-clockwise by `angle` degrees on an enlarged canvas, trimmed to the mark."""
    rgba = as_rgba(image)
    if angle % 360 == 0:
        return rgba.copy()
    turned = rgba.convert("RGBa").rotate(angle, Image.Resampling.BICUBIC, expand=True).convert("RGBA")
    return trim(turned)
