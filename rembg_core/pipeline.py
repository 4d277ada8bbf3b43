"""`remove`: load → preprocess → inference → postprocess → compose, timed stage by stage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from . import compose, edges
from .imageio import DEFAULT_MAX_PIXELS, ImageSource, LoadedImage, encode, load_image
from .models import ModelSpec
from .options import RemoveOptions
from .session import ModelSession, SessionConfig, get_session

# on_stage(name, "start" | "end"): lets a memory sampler mark stage boundaries
StageHook = Callable[[str, str], None]


@dataclass(frozen=True)
class RemovalResult:
    image: Image.Image  # RGBA cutout (straight colour), or the L mask when only_mask
    mask: Image.Image  # L, same size as image
    timings: dict[str, float] = field(compare=False)  # seconds per stage, "queue" (waiting for a run slot), "total"
    config: SessionConfig
    source: LoadedImage = field(repr=False, compare=False)
    options: RemoveOptions = RemoveOptions()
    model_mask: Image.Image | None = field(default=None, repr=False, compare=False)  # before post-processing
    edge_notes: tuple[str, ...] = ()  # what the edge stage did beyond the plain request (reduced scale, ...)

    @property
    def notes(self) -> tuple[str, ...]:
        return self.source.notes + self.edge_notes


@dataclass(frozen=True)
class Composed:
    """compose_result's answer; unpacks as (image, alpha) for callers that need only those."""
    image: Image.Image
    alpha: Image.Image
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict, compare=False)  # the edge stage's steps

    def __iter__(self) -> Iterator[Image.Image]:
        return iter((self.image, self.alpha))


@contextmanager
def _stage(name: str, timings: dict[str, float], hook: StageHook | None) -> Iterator[None]:
    if hook:
        hook(name, "start")
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        if hook:
            hook(name, "end")


def preprocess(rgb: Image.Image, spec: ModelSpec) -> np.ndarray:
    """RGB → (1, 3, S, S) float32, normalised as rembg does (÷ the image max, then mean/std).

    All in float32, written straight into the output array: no float64 temporaries.
    """
    s = spec.input_size
    # reducing_gap=3: a box reduction first when the image is at least 6× the model's input
    # (≥ 1920 px for u2netp), then Lanczos; smaller images resize exactly as before. At 24 MP
    # it cuts this step from ~0.35 s to ~0.05 s; Pillow documents gap ≥ 3 as indistinguishable
    # from a full Lanczos in most cases.
    small = rgb.resize((s, s), Image.Resampling.LANCZOS, reducing_gap=3.0) if rgb.size != (s, s) else rgb
    a = np.asarray(small, dtype=np.float32)
    peak = max(float(a.max()), 1e-6)
    out = np.empty((1, 3, s, s), dtype=np.float32)
    for c in range(3):
        np.subtract(a[:, :, c] / np.float32(peak), np.float32(spec.mean[c]), out=out[0, c])
        out[0, c] /= np.float32(spec.std[c])
    return out


def predict_mask(rgb: Image.Image, session: ModelSession,
                 timings: dict[str, float] | None = None, on_stage: StageHook | None = None) -> Image.Image:
    """The model's mask for `rgb`, at rgb's size."""
    timings = {} if timings is None else timings
    with _stage("preprocess", timings, on_stage):
        batch = preprocess(rgb, session.spec)
    queued_before = timings.get("queue", 0.0)
    with _stage("inference", timings, on_stage):
        pred = session.run(batch, timings)
    # time spent waiting for a free run slot (gate.GATE) is "queue", not inference
    timings["inference"] -= timings["queue"] - queued_before
    with _stage("postprocess", timings, on_stage):
        mask = compose.prediction_to_mask(pred[0, 0], rgb.size)
    return mask


def remove(data: ImageSource | LoadedImage, config: SessionConfig | None = None,
           options: RemoveOptions = RemoveOptions(), *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
           session: ModelSession | None = None, on_stage: StageHook | None = None) -> RemovalResult:
    """Remove the background of one image.

    `data` is bytes, a path, a PIL image or an already loaded image. `options.max_size` caps the
    longest side before anything else (the model always sees its own input size). Raises
    ImageLoadError subclasses for bad input and ModelError subclasses when the model is unavailable.
    """
    config = config or (session.config if session else SessionConfig())
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    with _stage("load", timings, on_stage):
        loaded = data if isinstance(data, LoadedImage) else load_image(data, max_size=options.max_size,
                                                                           max_pixels=max_pixels)
    with _stage("session", timings, on_stage):
        session = session or get_session(config)
    mask = predict_mask(loaded.rgb, session, timings, on_stage)
    with _stage("compose", timings, on_stage):
        composed = compose_result(loaded, mask, options)
    if composed.timings:  # the edge stage is its own stage, not part of compositing
        timings["edges"] = sum(composed.timings.values())
        timings["compose"] -= timings["edges"]
    timings["total"] = time.perf_counter() - t_start
    return RemovalResult(composed.image, composed.alpha, timings, config, loaded, options, mask, composed.notes)


def compose_result(loaded: LoadedImage, mask: Image.Image,
                   options: RemoveOptions = RemoveOptions()) -> Composed:
    """(image, alpha) from the model's mask: everything after inference (mask post-processing, the
    edge stage, compositing), so options that only change these can be re-applied to a kept mask
    without running the model again. Raises edges.EdgeBudgetError for an edge band far over budget."""
    if options.post_process_mask:
        mask = compose.post_process_mask(mask)
    edge = edges.refine(loaded.rgb, mask, options)
    alpha = compose.combine_alpha(edge.alpha, loaded.alpha)
    if options.only_mask:
        image = alpha
    else:
        image = compose.cutout(edge.rgb, alpha)
        if options.bgcolor is not None:
            image = compose.apply_background(image, options.bgcolor)
    if options.crop:
        image, alpha = compose.crop_to_subject(image, alpha, options.crop_padding)
    return Composed(image, alpha, edge.notes, dict(edge.timings))


def encode_result(result: RemovalResult, options: RemoveOptions | None = None, *, png_level: int = 4) -> bytes:
    """The result as a file in `options.format` (the result's own options by default), keeping the
    input's ICC colour profile: the one encoder every caller uses."""
    options = options or result.options
    return encode(result.image, options.format, result.source.icc_profile, png_level=png_level)
