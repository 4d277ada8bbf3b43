"""Where a watermark's alpha comes from: the logo's own transparency, a colour key, or the model."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..colors import RGB
from .shaping import as_rgba

# A border is "plain" when this share of its pixels lie within UNIFORM_DISTANCE of its median colour.
UNIFORM_SHARE = 0.9
UNIFORM_DISTANCE = 24.0
# The model's 320-px prediction, upscaled, leaves a haze of alpha 1..4 over the whole frame:
# invisible (under 2 %), but it would stop --trim from trimming anything. Cleared to 0.
MODEL_HAZE = 4
# Colour key: a pixel this close to its neighbourhood's solid colour counts as solid.
OPAQUE_SNAP = 0.95


def own_alpha(image: Image.Image) -> Image.Image | None:
    """The image's own transparency (L), or None when it is fully opaque."""
    if "A" not in image.getbands() and "transparency" not in image.info:
        return None
    alpha = as_rgba(image).getchannel("A")
    return None if alpha.getextrema() == (255, 255) else alpha


def border_pixels(image: Image.Image, width: int = 2) -> np.ndarray:
    """The outer `width`-pixel ring of an image as an (N, 3) float32 RGB array."""
    a = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = a.shape[:2]
    b = max(1, min(width, h // 2, w // 2))
    ring = np.ones((h, w), bool)
    ring[b:h - b, b:w - b] = False
    return a[ring]


def detect_background(image: Image.Image) -> tuple[RGB, bool]:
    """The border's median colour, and whether the border is plain (one colour, give or take noise)."""
    px = border_pixels(image)
    median = np.median(px, axis=0)
    near = np.linalg.norm(px - median, axis=1) <= UNIFORM_DISTANCE
    color = tuple(int(round(float(c))) for c in median)
    return color, bool(near.mean() >= UNIFORM_SHARE)  # type: ignore[return-value]


def _local_max(a: np.ndarray, reach: int) -> np.ndarray:
    """Maximum over a (2·reach+1)² window around each pixel (separable, in place; edges replicate)."""
    out = a
    for axis in (0, 1):
        p = np.pad(out, [(reach, reach) if i == axis else (0, 0) for i in range(2)], mode="edge")
        n = out.shape[axis]
        out = np.take(p, range(n), axis=axis)  # a copy: window 0
        for k in range(1, 2 * reach + 1):
            np.maximum(out, np.take(p, range(k, k + n), axis=axis), out=out)
    return out


def _distance(image: Image.Image, color: RGB) -> np.ndarray:
    """Euclidean RGB distance of every pixel to `color`, float32, one channel at a time (bounded memory)."""
    rgb = np.asarray(image.convert("RGB"))
    d2 = np.zeros(rgb.shape[:2], np.float32)
    for c in range(3):
        t = rgb[..., c].astype(np.float32)
        t -= color[c]
        d2 += t * t
    return np.sqrt(d2, out=d2)


def color_key(image: Image.Image, key: RGB, tolerance: float = 16.0, softness: float = 64.0,
              reach: int = 3) -> Image.Image:
    """Alpha (L) from each pixel's colour distance d to `key` (Euclidean, 8-bit RGB).

    An anti-aliased edge pixel is a mix C = a·F + (1 − a)·B of the logo colour F and the key B,
    so a = |C − B| / |F − B|. |F − B| is estimated as the largest distance within `reach` px
    (the solid colour next to the edge), but never less than tolerance + softness. Pixels within
    `tolerance` of the key are transparent; softness 0 gives a hard key.
    """
    d = _distance(image, key)
    if softness <= 0:
        return Image.fromarray(((d > tolerance) * 255).astype(np.uint8), "L")
    full = np.maximum(_local_max(d, reach) if reach > 0 else d, tolerance + softness)
    ramp = np.clip((d - tolerance) / (full - tolerance), 0.0, 1.0)
    # Resampling rings: a pixel next to an edge can overshoot past the solid colour, which would
    # leave its solid neighbours a few % transparent (a faint line on dark photos). Snap those.
    alpha = np.where(ramp >= OPAQUE_SNAP, 1.0, ramp) * 255.0
    return Image.fromarray(np.rint(alpha).astype(np.uint8), "L")


def model_alpha(image: Image.Image, config=None, session=None, matting: bool = False) -> Image.Image:
    """Alpha (L) from the background-removal model (rembg_core.pipeline.remove), refined by the edge
    stage's closed-form matting when `matting`.

    `config` (a SessionConfig) or an already loaded `session` (e.g. the app's shared one).
    """
    from ..options import RemoveOptions
    from ..pipeline import remove  # the model stack loads only when asked for

    return remove(image.convert("RGB"), config, RemoveOptions(alpha_matting=matting, only_mask=True),
                  session=session).mask


def choose_source(image: Image.Image, requested: str = "auto") -> str:
    """Resolve "auto": the logo's own alpha if it has one, a colour key on a plain border, else the model."""
    if requested != "auto":
        return requested
    if own_alpha(image) is not None:
        return "alpha"
    return "key" if detect_background(image)[1] else "model"
