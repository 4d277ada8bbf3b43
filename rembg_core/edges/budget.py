"""The per-request edge budget: how many band pixels one request may refine at full scale.

Time grows with the band (memory does not: the work is tile by tile). A band over the budget is
refined at a reduced scale, the smallest whole-number reduction that brings it within the budget,
and the result is upsampled into the full-size band; the note says so. Past `MAX_REDUCTION` the
request is refused with one line instead (EdgeBudgetError), because a 1/8-scale alpha is no refinement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ImageLoadError

MAX_REDUCTION = 8


class EdgeBudgetError(ImageLoadError):
    """The edge band is too large even at the smallest allowed scale."""


@dataclass(frozen=True)
class Plan:
    reduction: int  # 1 = full scale, k = work at 1/k of each side
    band_pixels: int
    budget: int

    def note(self, stage: str) -> str:
        """The result's note for a reduced-scale run of `stage`."""
        return (f"{stage} ran at 1/{self.reduction} scale: its band ({self.band_pixels:,} px) is over the "
                f"edge budget ({self.budget:,} px, REMBG_LAB_MAX_EDGE_BAND_PIXELS)")


def plan(band_pixels: int, budget: int) -> Plan:
    """The reduction for a band of `band_pixels`: its area shrinks with the square of the reduction."""
    if band_pixels <= budget:
        return Plan(1, band_pixels, budget)
    k = math.ceil(math.sqrt(band_pixels / budget))
    if k > MAX_REDUCTION:
        raise EdgeBudgetError(
            f"the edge band ({band_pixels:,} px) is over {MAX_REDUCTION * MAX_REDUCTION}x the edge budget "
            f"({budget:,} px); raise REMBG_LAB_MAX_EDGE_BAND_PIXELS or turn edge refinement off")
    return Plan(k, band_pixels, budget)
