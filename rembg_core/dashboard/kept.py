"""What an interactive session keeps of one removal: encoded files and preview-size copies, never
full-size arrays, plus the model's mask so that compositing options can change without the model.

A 9000×9000 cutout is 324 MB as RGBA in memory but a few MB as PNG; a dashboard tab that holds the
former keeps it until someone presses Release. `Kept` holds PNG bytes (cutout, final mask, the
model's raw mask) and two encoded previews drawn at one scale (a crop shows at the size it has in
the input's preview), and `recompose` rebuilds the result from the input bytes and
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
    before: bytes = field(repr=False)  # preview-size input, JPEG
    after: bytes = field(repr=False)  # the result at the same preview scale (PNG), over a checkerboard when transparent
    before_size: tuple[int, int]  # of the previews, px
    after_size: tuple[int, int]
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
        """What this keeps in memory: the encoded files and previews (no decoded arrays)."""
        return sum(map(len, (self.raw_mask_png, self.image_png, self.alpha_png, self.before, self.after)))

    def webp(self) -> bytes:
        """The result as lossless WebP, made from the kept PNG when asked for (a download)."""
        return encode(Image.open(io.BytesIO(self.image_png)), "webp", self.icc)


def preview_scale(size: tuple[int, int]) -> float:
    """The factor that fits the input's working size into PREVIEW_SIDE; the result uses the same one."""
    return min(1.0, PREVIEW_SIDE / max(size))


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=88)
    return out.getvalue()


def keep(result: RemovalResult, mask_key: tuple, name: str, inferences: int = 1) -> Kept:
    """`result` from remove() (it carries the model's mask) reduced to what a session may keep."""
    src = result.source
    if result.model_mask is None:
        raise ValueError("the result carries no model mask")
    factor = preview_scale(src.size)
    before = _scaled(src.rgb, factor)
    after = _scaled(result.image, factor)
    after = after if after.mode in ("L", "RGB") else preview.on_checkerboard(after)
    return Kept(mask_key, result.options, name, result.config, encode(result.model_mask, "png"),
                encode_result(result, result.options.replace(format="png")), encode(result.mask, "png"),
                _jpeg(before), encode(after, "png", png_level=1), before.size, after.size, result.image.size,
                src.size, src.original_size, src.decoded_size, result.notes, src.icc_profile, dict(result.timings),
                inferences)


def recompose(kept: Kept, data: bytes, options: RemoveOptions) -> Kept:
    """The same image and session with other compositing options: decode again, reuse the mask.
    `options.max_size` must be the kept one (another cap means another mask)."""
    if options.max_size != kept.options.max_size:
        raise ValueError("another max_size needs another model run, not a recompose")
    t0 = time.perf_counter()
    loaded = load_image(data, max_size=options.max_size)
    raw = Image.open(io.BytesIO(kept.raw_mask_png))
    raw.load()
    composed = compose_result(loaded, raw, options)
    timings = {"recompose": time.perf_counter() - t0}
    result = RemovalResult(composed.image, composed.alpha, timings, kept.config, loaded, options, raw, composed.notes)
    return keep(result, kept.mask_key, kept.name, inferences=0)
