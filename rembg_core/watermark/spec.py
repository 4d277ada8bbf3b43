"""Watermark specs: how a logo becomes a mark (WatermarkSpec) and where a mark goes on a photo (PlacementSpec)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..colors import RGB

Source = Literal["auto", "alpha", "key", "model"]


SOURCES: tuple[str, ...] = ("auto", "alpha", "key", "model")


POSITIONS: tuple[str, ...] = (
    "top-left", "top", "top-right",
    "left", "center", "right",
    "bottom-left", "bottom", "bottom-right",
)


TILE = "tile"


def _check_rgb(value: object, name: str) -> None:
    if value is None:
        return
    if (not isinstance(value, tuple) or len(value) != 3
            or not all(isinstance(c, int) and 0 <= c <= 255 for c in value)):
        raise ValueError(f"{name} must be an (R, G, B) tuple of whole numbers 0-255, got {value!r}")


@dataclass(frozen=True)
class WatermarkSpec:
    """How to turn a logo into a transparent watermark. Defaults leave the logo as it is."""

    source: Source = "auto"  # where alpha comes from; auto = own alpha, else key if the border is plain, else model
    model_matting: bool = False  # the model source refines its alpha with closed-form matting (rembg_core.edges)
    key_color: RGB | None = None  # colour key background; None = detected from the border
    tolerance: float = 16.0  # colour distance (RGB, 0..441) still counted as background
    softness: float = 64.0  # alpha ramps from 0 to 1 between tolerance and tolerance + softness
    defringe: bool = True  # un-mix the background colour from semi-transparent edge pixels
    threshold: int | None = None  # hard edge: alpha >= threshold → opaque, else transparent
    feather: float = 0.0  # soft edge: Gaussian blur radius of alpha, in pixels of the source
    greyscale: bool = False
    tint: RGB | None = None  # one flat colour for the whole mark (e.g. white)
    trim: bool = False  # cut transparent margins
    size: int | None = None  # longest side of the mark itself, in px
    padding: int = 0  # transparent px added on every side, after sizing
    square: bool = False  # centre on a square canvas
    opacity: float = 1.0  # baked into alpha

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown alpha source {self.source!r} (one of {', '.join(SOURCES)})")
        _check_rgb(self.key_color, "key colour")
        _check_rgb(self.tint, "tint")
        if not 0 <= self.tolerance <= 442:
            raise ValueError(f"tolerance must be 0-442 (an RGB distance), got {self.tolerance}")
        if not 0 <= self.softness <= 442:
            raise ValueError(f"softness must be 0-442 (an RGB distance), got {self.softness}")
        if self.threshold is not None and not (isinstance(self.threshold, int) and 1 <= self.threshold <= 255):
            raise ValueError(f"threshold must be a whole number 1-255, got {self.threshold!r}")
        if not 0 <= self.feather <= 250:
            raise ValueError(f"feather must be 0-250 px, got {self.feather}")
        if self.greyscale and self.tint is not None:
            raise ValueError("choose greyscale or a tint colour, not both")
        if self.size is not None and not (isinstance(self.size, int) and 1 <= self.size <= 20_000):
            raise ValueError(f"size must be a whole number of pixels 1-20000, got {self.size!r}")
        if not (isinstance(self.padding, int) and 0 <= self.padding <= 10_000):
            raise ValueError(f"padding must be a whole number of pixels 0-10000, got {self.padding!r}")
        if not (isinstance(self.opacity, (int, float)) and 0.0 <= self.opacity <= 1.0):
            raise ValueError(f"opacity must be between 0 and 1, got {self.opacity!r}")


@dataclass(frozen=True)
class PlacementSpec:
    """Where and how big a watermark goes on a photo."""

    position: str = "bottom-right"  # one of POSITIONS, or "tile"
    scale: float | None = 0.2  # mark width as a fraction of the photo's width; None = the mark's own size
    margin: int | None = None  # px from the photo's edges; None = 3 % of the photo's shorter side
    spacing: int | None = None  # px between tiles; None = the mark's height
    angle: float = 0.0  # degrees, counter-clockwise
    stagger: bool = True  # tile: shift every other row by half a step (a brick pattern)

    def __post_init__(self) -> None:
        if self.position not in POSITIONS + (TILE,):
            raise ValueError(f"unknown position {self.position!r} (one of {', '.join(POSITIONS)}, or tile)")
        if self.scale is not None and not (isinstance(self.scale, (int, float)) and 0 < self.scale <= 1):
            raise ValueError(f"scale must be a fraction of the photo's width, above 0 and at most 1, got {self.scale!r}")
        if self.margin is not None and not (isinstance(self.margin, int) and self.margin >= 0):
            raise ValueError(f"margin must be a whole number of pixels, 0 or more, got {self.margin!r}")
        if self.spacing is not None and not (isinstance(self.spacing, int) and self.spacing >= 0):
            raise ValueError(f"spacing must be a whole number of pixels, 0 or more, got {self.spacing!r}")
        if not (isinstance(self.angle, (int, float)) and math.isfinite(self.angle)):
            raise ValueError(f"angle must be a number of degrees, got {self.angle!r}")
