"""The subject's own colour where it is blended with the background (decontamination), estimated
only in the soft band, tile by tile.

The estimator is blur fusion (Forte & Pitié, "Approximate fast foreground colour estimation", ICIP
2021): local means of foreground and background colour weighted by alpha, then the compositing
residual I − αF − (1 − α)B given back to the foreground; a wide pass (radius 90) and narrower ones.
The paper stops after radius 6; passes at 3 and 1 more cut the soft-band composite error on our
synthetic composites by another 8-17 % (green screen 11.9 → 9.8 levels, white 12.4 → 10.4). It needs only box filters, so it runs in float32 with scipy.ndimage and no JIT (rembg's
`-dc` runs pymatting's multi-level estimator over the whole image in float64). The wide pass's means
are smooth, so they are taken once at 1/4 scale over the whole image (1/16 of its area) and
interpolated into each tile; the narrow passes run at full scale in tiles with a margin covering their radii.
Where alpha is 1 the estimate is the pixel itself, so only the soft band is written.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

WIDE, NARROW = 90, (6, 3, 1)  # radii in full-scale pixels
COARSE = 4  # the wide pass's reduction (1/4 and full scale differ by under 0.1 level)
MARGIN = sum(NARROW) + 2
# Alpha outside [SOFT_LOW, SOFT_HIGH] keeps the source colour: its error on any background is below
# 4/255 of the colour difference, under one 8-bit level in most composites.
SOFT_LOW, SOFT_HIGH = 4, 251
_TINY = np.float32(1e-5)


def soft_band(alpha: np.ndarray) -> np.ndarray:
    return (alpha >= SOFT_LOW) & (alpha <= SOFT_HIGH)


def _box(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² box on each channel (mirror at the edges), float32 in, float32 out."""
    size = (2 * radius + 1, 2 * radius + 1) + ((1,) if a.ndim == 3 else ())
    return ndimage.uniform_filter(a, size=size, mode="mirror")


def _unit(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) / np.float32(255)


class Estimator:
    """Blur-fusion foreground colour for windows of one image; the wide pass is shared."""

    def __init__(self, image: np.ndarray, alpha: np.ndarray):
        self.shape = alpha.shape
        small_i = _unit(np.asarray(Image.fromarray(image).reduce(COARSE)))
        small_a = _unit(np.asarray(Image.fromarray(alpha).reduce(COARSE)))
        r = max(1, round(WIDE / COARSE))
        a3 = small_a[:, :, None]
        mean_a = _box(small_a, r)[:, :, None]
        f_mean = _box(small_i * a3, r) / (mean_a + _TINY)
        b_mean = _box(small_i * (1 - a3), r) / ((1 - mean_a) + _TINY)
        # kept as Pillow float images: their resize with a source box is a fast bilinear resample
        self.f_mean = [Image.fromarray(np.ascontiguousarray(f_mean[:, :, c]), "F") for c in range(3)]
        self.b_mean = [Image.fromarray(np.ascontiguousarray(b_mean[:, :, c]), "F") for c in range(3)]

    def _coarse(self, rows: slice, cols: slice, means: list[Image.Image]) -> np.ndarray:
        """`means` (1/COARSE scale, one float image a channel) bilinearly resampled onto the window."""
        box = (cols.start / COARSE, rows.start / COARSE, cols.stop / COARSE, rows.stop / COARSE)
        size = (cols.stop - cols.start, rows.stop - rows.start)
        return np.stack([np.asarray(m.resize(size, Image.Resampling.BILINEAR, box=box)) for m in means], axis=-1)

    def window(self, image: np.ndarray, alpha: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """Foreground colour (uint8 h×w×3) of the window `image[rows, cols]` (uint8), `alpha` likewise."""
        i = _unit(image)
        a2 = _unit(alpha)
        a = a2[:, :, None]
        f_hat = self._coarse(rows, cols, self.f_mean)
        b_hat = self._coarse(rows, cols, self.b_mean)
        fg = np.clip(f_hat + a * (i - a * f_hat - (1 - a) * b_hat), 0, 1)
        for radius in NARROW:
            mean_a = _box(a2, radius)[:, :, None]
            f_hat = _box(fg * a, radius) / (mean_a + _TINY)
            b_hat = _box(b_hat * (1 - a), radius) / ((1 - mean_a) + _TINY)
            fg = np.clip(f_hat + a * (i - a * f_hat - (1 - a) * b_hat), 0, 1)
        return (fg * 255 + 0.5).astype(np.uint8)
