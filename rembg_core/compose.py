"""Mask and compositing steps, one small function each. Colours stay straight throughout."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from .colors import Color

_BAND_PIXELS = 1 << 20
_INVISIBLE = [255] + [0] * 255  # alpha 0 → 255 (replace), anything else → 0 (keep)


def prediction_to_mask(pred: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Model output (S×S float) → L mask at `size`, min-max normalised as rembg does.

    A flat prediction (solid-colour input) has max == min; rembg divides by zero there.
    """
    pred = np.squeeze(pred).astype(np.float32, copy=False)
    lo, hi = float(pred.min()), float(pred.max())
    if hi - lo > 1e-12:
        pred = (pred - lo) / (hi - lo)
    else:
        pred = np.clip(pred, 0.0, 1.0)
    mask = Image.fromarray((pred * 255).astype(np.uint8), "L")  # truncation, as rembg
    return mask if mask.size == size else mask.resize(size, Image.Resampling.LANCZOS)


def _cross_filter(a: np.ndarray, reduce) -> np.ndarray:
    """Min or max over each pixel and its 4 neighbours (skimage's disk(1)); edges replicate."""
    p = np.pad(a, 1, mode="edge")
    return reduce.reduce([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])


def post_process_mask(mask: Image.Image) -> Image.Image:
    """Smooth, hard-edged mask: opening with a 3×3 cross, Gaussian blur (σ=2), threshold at 127.

    rembg's `post_process` recipe, with numpy and Pillow instead of scikit-image and scipy.
    """
    a = np.asarray(mask)
    opened = _cross_filter(_cross_filter(a, np.minimum), np.maximum)
    blurred = Image.fromarray(opened, "L").filter(ImageFilter.GaussianBlur(2))
    return blurred.point(lambda v: 255 if v >= 127 else 0)


def combine_alpha(mask: Image.Image, own_alpha: Image.Image | None) -> Image.Image:
    """Where the input was already transparent, it stays transparent."""
    if own_alpha is None:
        return mask
    return Image.fromarray(
        ((np.asarray(mask, np.uint16) * np.asarray(own_alpha, np.uint16) + 127) // 255).astype(np.uint8), "L"
    )


def cutout(rgb: Image.Image, alpha: Image.Image) -> Image.Image:
    """Straight-alpha RGBA: every pixel with alpha > 0 keeps its source colour; alpha 0 is (0, 0, 0, 0).

    (rembg's naive_cutout multiplies RGB by the mask and then saves it as straight alpha,
    which darkens soft edges twice.) Invisible pixels are cleared because a photo's colours there
    compress badly: a 1 MP cutout's PNG comes out about 2.8× smaller and encodes about 3× faster.
    """
    out = rgb.convert("RGBA") if rgb.mode != "RGBA" else rgb.copy()
    out.putalpha(alpha)
    # Fill (0, 0, 0, 0) through a 0/255 mask, band by band: a full-size mask would add a byte a
    # pixel to the peak (24 MB at 24 MP), a band of ~1 MP adds next to nothing.
    rows = max(1, _BAND_PIXELS // out.width)
    for top in range(0, out.height, rows):
        box = (0, top, out.width, min(out.height, top + rows))
        out.paste((0, 0, 0, 0), box, alpha.crop(box).point(_INVISIBLE))
    return out


def apply_background(image: Image.Image, color: Color) -> Image.Image:
    """Composite the cutout over a solid colour (alpha < 255 keeps the result translucent)."""
    background = Image.new("RGBA", image.size, tuple(color))
    return Image.alpha_composite(background, image)


def subject_bbox(alpha: Image.Image, threshold: int = 8) -> tuple[int, int, int, int] | None:
    """Bounding box of pixels with alpha above `threshold`; None when there is no subject."""
    return alpha.point(lambda v: 255 if v > threshold else 0).getbbox()


def crop_to_subject(image: Image.Image, alpha: Image.Image, padding: int = 0) -> tuple[Image.Image, Image.Image]:
    """Trim both the image and its mask to the subject plus `padding` pixels (clamped to the frame)."""
    box = subject_bbox(alpha)
    if box is None:
        return image, alpha
    left, top, right, bottom = box
    box = (max(0, left - padding), max(0, top - padding),
           min(image.width, right + padding), min(image.height, bottom + padding))
    return image.crop(box), alpha.crop(box)
