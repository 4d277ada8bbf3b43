"""rembg's trimap rule: certain foreground where the mask is above the foreground threshold, certain
background below the background threshold, both shrunk by an erosion; the rest is unknown.

Semantics follow rembg 2.0.86's alpha matting: `mask > fg` and `mask < bg` (strict), each eroded by an
`erode`×`erode` square (erode 0 means scipy's default 3×3 cross, as rembg passes no structure then);
beyond the frame nothing counts as foreground but everything counts as background, so a subject
touching the border loses a rim there while the background does not. Erosion by a square is a separable minimum filter: two 1-D passes over uint8, no float copy.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FOREGROUND, UNKNOWN, BACKGROUND = 255, 128, 0


def _erode(region: np.ndarray, size: int, outside: int) -> np.ndarray:
    """Binary erosion of a bool image, `outside` being the value assumed beyond the frame."""
    if size <= 0:
        return ndimage.binary_erosion(region, border_value=outside)
    u8 = region.view(np.uint8)
    # scipy places an even-sized window's centre at size // 2, as binary_erosion does
    out = ndimage.minimum_filter1d(u8, size, axis=0, mode="constant", cval=outside)
    ndimage.minimum_filter1d(out, size, axis=1, output=out, mode="constant", cval=outside)
    return out.view(bool)


def trimap(mask: np.ndarray, foreground_threshold: int = 240, background_threshold: int = 10,
           erode_size: int = 10) -> np.ndarray:
    """uint8 trimap (0 background, 128 unknown, 255 foreground) of an L mask (uint8, h×w)."""
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"mask must be a 2-D uint8 array, not {mask.dtype} with shape {mask.shape}")
    fg = _erode(mask > foreground_threshold, erode_size, 0)
    bg = _erode(mask < background_threshold, erode_size, 1)
    out = np.full(mask.shape, UNKNOWN, np.uint8)
    out[fg] = FOREGROUND
    out[bg] = BACKGROUND
    return out
