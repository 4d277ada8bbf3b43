"""Tiles that cover a band of pixels: the work of the edge stage is done tile by tile, each tile read
with a margin of context around it, so memory follows the tile size and time follows the band length,
never the image's area.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    top: int  # the core: results are written here only
    left: int
    bottom: int
    right: int
    margin_top: int  # the window read around the core (core plus up to `margin` on each side)
    margin_left: int
    margin_bottom: int
    margin_right: int

    @property
    def window(self) -> tuple[slice, slice]:
        return slice(self.margin_top, self.margin_bottom), slice(self.margin_left, self.margin_right)

    @property
    def core(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    @property
    def core_in_window(self) -> tuple[slice, slice]:
        """The core's place inside the window's arrays."""
        top, left = self.top - self.margin_top, self.left - self.margin_left
        return slice(top, top + self.bottom - self.top), slice(left, left + self.right - self.left)


def occupied_blocks(band: np.ndarray, size: int) -> np.ndarray:
    """(rows, cols) bool grid: which size×size blocks of `band` (bool, h×w) hold any band pixel.

    Row strips at a time, so the only temporaries are one strip's worth of bools."""
    h, w = band.shape
    rows, cols = -(-h // size), -(-w // size)
    grid = np.zeros((rows, cols), bool)
    edges = np.arange(0, w, size)
    for r in range(rows):
        strip = band[r * size:(r + 1) * size].any(axis=0)
        grid[r] = np.logical_or.reduceat(strip, edges)
    return grid


def tiles(band: np.ndarray, size: int, margin: int) -> Iterator[Tile]:
    """Tiles of `size` px that hold at least one pixel of `band`, each with up to `margin` px of
    context, clamped to the frame."""
    if size < 1 or margin < 0:
        raise ValueError("tile size must be 1 or more and margin 0 or more")
    h, w = band.shape
    grid = occupied_blocks(band, size)
    for r, c in zip(*np.nonzero(grid)):
        top, left = int(r) * size, int(c) * size
        bottom, right = min(h, top + size), min(w, left + size)
        yield Tile(top, left, bottom, right, max(0, top - margin), max(0, left - margin),
                   min(h, bottom + margin), min(w, right + margin))


def count(band: np.ndarray) -> int:
    """Band pixels, counted in strips (np.count_nonzero on a bool image allocates nothing)."""
    return int(np.count_nonzero(band))
