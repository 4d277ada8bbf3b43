"""Haze cleanup: the faint veil of background a small model leaves (alpha 1-31 far from the subject)
and isolated specks, removed without touching the soft edges that belong to the subject.

Rules, each with a stated level so a test can hold them:
- a pixel below `HAZE_BELOW` is cleared unless it lies within `NEAR_PX` of a pixel at or above
  `SOLID_FROM` (hair tips and a veil's fade-out sit next to the subject; haze does not);
- an 8-connected group of visible pixels (≥ `HAZE_BELOW`) is cleared when its area is under
  `SPECK_FRACTION` of the largest group's area (stray blobs, not the subject's parts).
Nothing at or above `HAZE_BELOW` that is connected to the largest group is ever changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

HAZE_BELOW = 32
SOLID_FROM = 128
NEAR_PX = 24
SPECK_FRACTION = 0.002


@dataclass(frozen=True)
class HazeReport:
    haze_pixels: int  # low alpha cleared far from the subject
    speck_pixels: int  # pixels of isolated small groups cleared
    specks: int


def clean(alpha: np.ndarray) -> tuple[np.ndarray, HazeReport]:
    """(cleaned copy of `alpha` (uint8 h×w), what was removed)."""
    if alpha.ndim != 2 or alpha.dtype != np.uint8:
        raise ValueError(f"alpha must be a 2-D uint8 array, not {alpha.dtype} with shape {alpha.shape}")
    out = alpha.copy()
    near = (alpha >= SOLID_FROM).view(np.uint8)
    size = 2 * NEAR_PX + 1
    near = ndimage.maximum_filter1d(near, size, axis=0, mode="constant", cval=0)
    ndimage.maximum_filter1d(near, size, axis=1, output=near, mode="constant", cval=0)
    haze = (out > 0) & (out < HAZE_BELOW) & ~near.view(bool)
    del near
    haze_pixels = int(np.count_nonzero(haze))
    out[haze] = 0
    del haze
    labels, n = ndimage.label(out >= HAZE_BELOW, structure=np.ones((3, 3), bool))
    speck_pixels = specks = 0
    if n > 1:
        areas = np.bincount(labels.ravel())
        areas[0] = 0
        small = areas < SPECK_FRACTION * areas.max()
        small[0] = False
        specks = int(np.count_nonzero(small))
        if specks:
            drop = small[labels]
            speck_pixels = int(np.count_nonzero(drop))
            out[drop] = 0
    return out, HazeReport(haze_pixels, speck_pixels, specks)
