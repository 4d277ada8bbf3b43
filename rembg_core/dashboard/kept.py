"""What an interactive session keeps of one removal: encoded files and preview-size copies, never
full-size arrays, plus the model's mask so that compositing options can change without the model.

A 9000×9000 cutout is 324 MB as RGBA in memory but a few MB as PNG; a dashboard tab that holds the
former keeps it until someone presses Release. `Kept` holds PNG bytes (cutout, final mask, the
model's raw mask) and two thumbnails, and `recompose` rebuilds the result from the input bytes and
the raw mask when only crop, background colour, mask post-processing or "only the mask" change.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

from PIL import Image

from .. import preview
from ..imageio import encode, load_image
from ..options import RemoveOptions
from ..pipeline import RemovalResult, compose_result, encode_result
from ..session import SessionConfig

PREVIEW_SIDE = 1100  # px: what the browser gets; downloads are full size


@dataclass(frozen=True)
class Kept:
    mask_key: tuple  # (image identity, session config, max_size): same key → same model mask
    options: RemoveOptions  # options.max_size decides the mask; every other field only compositing
    name: str
    config: SessionConfig
    raw_mask_png: bytes = field(repr=False)  # the model's mask at working size, before post-processing
    image_png: bytes = field(repr=False)  # the result (cutout or mask), full size, with the input's ICC profile
    alpha_png: bytes = field(repr=False)
    before: Image.Image = field(repr=False)  # preview-size input
    after: Image.Image = field(repr=False)  # preview-size result, over a checkerboard when transparent
    size: tuple[int, int]  # of the result
    source_size: tuple[int, int]  # working size (after max_size)
    original_size: tuple[int, int]
    decoded_size: tuple[int, int]
    notes: tuple[str, ...]
    icc: bytes | None = field(repr=False)
    timings: dict = field(compare=False)
    inferences: int  # model runs made to produce this: 1 from remove(), 0 when recomposed

    @property
    def nbytes(self) -> int:
        """What this keeps in memory, roughly: the encoded files plus the two thumbnails."""
        thumbs = sum(im.width * im.height * len(im.getbands()) for im in (self.before, self.after))
        return len(self.raw_mask_png) + len(self.image_png) + len(self.alpha_png) + thumbs

    def webp(self) -> bytes:
        """The result as lossless WebP, made from the kept PNG when asked for (a download)."""
        return encode(Image.open(io.BytesIO(self.image_png)), "webp", self.icc)


def thumbnail(image: Image.Image) -> Image.Image:
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return small


def _after(image: Image.Image) -> Image.Image:
    small = thumbnail(image)
    return small if small.mode in ("L", "RGB") else preview.on_checkerboard(small)


def keep(result: RemovalResult, mask_key: tuple, name: str, inferences: int = 1) -> Kept:
    """`result` from remove() (it carries the model's mask) reduced to what a session may keep."""
    src = result.source
    if result.model_mask is None:
        raise ValueError("the result carries no model mask")
    return Kept(mask_key, result.options, name, result.config, encode(result.model_mask, "png"),
                encode_result(result, result.options.replace(format="png")), encode(result.mask, "png"), thumbnail(src.rgb),
                _after(result.image), result.image.size, src.size, src.original_size, src.decoded_size, src.notes,
                src.icc_profile, dict(result.timings), inferences)


def recompose(kept: Kept, data: bytes, options: RemoveOptions) -> Kept:
    """The same image and session with other compositing options: decode again, reuse the mask.
    `options.max_size` must be the kept one (another cap means another mask)."""
    if options.max_size != kept.options.max_size:
        raise ValueError("another max_size needs another model run, not a recompose")
    t0 = time.perf_counter()
    loaded = load_image(data, max_size=options.max_size)
    raw = Image.open(io.BytesIO(kept.raw_mask_png))
    raw.load()
    image, alpha = compose_result(loaded, raw, options)
    timings = {"recompose": time.perf_counter() - t0}
    result = RemovalResult(image, alpha, timings, kept.config, loaded, options, raw)
    return keep(result, kept.mask_key, kept.name, inferences=0)
