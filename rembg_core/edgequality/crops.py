"""Zoomed crops of one edge, every mode side by side, over a light and a dark background.

The window is the square where the truth alpha changes most (hair, fur, an outline under a veil),
the same for every mode. Pixels are enlarged with nearest-neighbour, so what is shown is what each cutout
holds, not a resampler's smoothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from .synthetic import Composite

LIGHT = (242, 242, 242)
DARK = (24, 24, 28)
LABEL_H = 18


def edge_window(alpha: np.ndarray, side: int = 64) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the `side`-pixel square where the truth alpha changes most
    (strands, fur, the outline under a veil), rather than where it is merely soft (a veil's flat middle)."""
    h, w = alpha.shape
    side = max(8, min(side, h, w))
    gy, gx = np.gradient(alpha.astype(np.float32))
    density = ndimage.uniform_filter(np.hypot(gx, gy), size=side, mode="constant")
    half = side // 2
    inner = density[half:h - (side - half) + 1, half:w - (side - half) + 1]
    y, x = np.unravel_index(int(inner.argmax()), inner.shape)
    return int(x), int(y), int(x) + side, int(y) + side


def _over(rgba: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float32) / 255
    return np.clip(rgba[..., :3] * a + np.asarray(color, np.float32) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def truth_rgba(c: Composite) -> np.ndarray:
    return np.dstack([np.clip(np.rint(c.fg * 255), 0, 255), np.clip(np.rint(c.alpha * 255), 0, 255)]).astype(np.uint8)


def side_by_side(c: Composite, cutouts: Sequence[tuple[str, np.ndarray | bytes]], *, side: int = 64,
                 zoom: int = 4, window: tuple[int, int, int, int] | None = None) -> Image.Image:
    """One RGB image: columns photo, truth, then each (label, cutout); rows light and dark.
    A cutout is an (H, W, 4) uint8 array or PNG bytes of the composite's size."""
    box = window or edge_window(c.alpha, side)
    cols: list[tuple[str, np.ndarray | None]] = [("photo", None), ("truth", truth_rgba(c))]
    for label, cut in cutouts:
        cols.append((label, np.asarray(Image.open(io.BytesIO(cut)).convert("RGBA")) if isinstance(cut, bytes)
                     else cut))
    tw, th = (box[2] - box[0]) * zoom, (box[3] - box[1]) * zoom
    gap = 4
    out = Image.new("RGB", (len(cols) * (tw + gap) - gap, LABEL_H + 2 * th + gap), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    for i, (label, held) in enumerate(cols):
        x = i * (tw + gap)
        draw.text((x + 2, 2), label, fill=(0, 0, 0), font=font)
        for j, color in enumerate((LIGHT, DARK)):
            tile = (c.image[box[1]:box[3], box[0]:box[2]] if held is None
                    else _over(held[box[1]:box[3], box[0]:box[2]], color))
            big = Image.fromarray(tile, "RGB").resize((tw, th), Image.Resampling.NEAREST)
            out.paste(big, (x, LABEL_H + j * (th + gap)))
    return out
