"""The edge stage: refine a cutout's soft edge between the model's mask and compositing.

Modes (RemoveOptions.edge_mode): "none" (the source colour, the model's alpha: rembg parity),
"decontaminate" (the subject's own colour estimated in the soft band) and "matting" (closed-form
alpha in rembg's trimap band, then the colour). Everything works tile by tile over the band only.
"""

from .budget import EdgeBudgetError
from .stage import EdgeResult, refine

__all__ = ["EdgeBudgetError", "EdgeResult", "refine"]
