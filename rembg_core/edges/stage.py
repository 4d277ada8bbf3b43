"""The edge stage: after the model's mask, before compositing. One entry, `refine`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..limits import LIMITS
from ..options import RemoveOptions
from . import band, budget, foreground, haze, matting
from .trimap import FOREGROUND, UNKNOWN, trimap

MATTING_TILE, MATTING_MARGIN = 96, 12  # a window of ≤ 120² px: its sparse system stays a few MB
COLOUR_TILE = 128  # measured: 0.75 s of CPU at 4 MP against 0.93 s with 64


@dataclass(frozen=True)
class EdgeResult:
    alpha: Image.Image  # L, refined (or the input's when only colour changed)
    rgb: Image.Image  # RGB to composite: the foreground colour in the soft band, the source elsewhere
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict, compare=False)


def _as_arrays(rgb: Image.Image, alpha: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    if rgb.size != alpha.size:
        raise ValueError(f"image {rgb.size} and alpha {alpha.size} differ in size")
    return np.asarray(rgb.convert("RGB")), np.asarray(alpha.convert("L"))


def refine_alpha(image: np.ndarray, mask: np.ndarray, options: RemoveOptions,
                 budget_px: int) -> tuple[np.ndarray, list[str]]:
    """Closed-form alpha in the trimap's unknown band, tile by tile, at full or reduced scale."""
    tri = trimap(mask, options.alpha_matting_foreground_threshold,
                 options.alpha_matting_background_threshold, options.alpha_matting_erode_size)
    unknown = tri == UNKNOWN
    n = band.count(unknown)
    if n == 0:
        return np.where(tri == FOREGROUND, 255, 0).astype(np.uint8), ["matting: no unknown band, nothing to refine"]
    p = budget.plan(n, budget_px)
    k = p.reduction
    if k == 1:
        src_img, src_mask, src_tri = image, mask, tri
    else:
        h, w = mask.shape
        small = Image.fromarray(image).reduce(k)
        src_img = np.asarray(small)
        src_mask = np.asarray(Image.fromarray(mask).reduce(k))
        src_tri = trimap(src_mask, options.alpha_matting_foreground_threshold,
                         options.alpha_matting_background_threshold,
                         -(-options.alpha_matting_erode_size // k))
    solved = np.where(src_tri == FOREGROUND, 255, 0).astype(np.uint8)
    for t in band.tiles(src_tri == UNKNOWN, MATTING_TILE, MATTING_MARGIN):
        win = t.window
        a = matting.solve_window(src_img[win], src_tri[win], src_mask[win])
        core = t.core_in_window
        keep = src_tri[t.core] == UNKNOWN
        solved[t.core][keep] = (a[core][keep] * 255 + 0.5).astype(np.uint8)
    notes = []
    if k > 1:
        up = np.asarray(Image.fromarray(solved).resize((w, h), Image.Resampling.BILINEAR))
        out = np.where(tri == FOREGROUND, 255, 0).astype(np.uint8)
        out[unknown] = up[unknown]
        solved = out
        notes.append(p.note("matting"))
    del tri
    return solved, notes


def decontaminate(image: np.ndarray, alpha: np.ndarray, budget_px: int) -> tuple[np.ndarray, list[str]]:
    """A copy of `image` with the estimated foreground colour in the soft band."""
    soft = foreground.soft_band(alpha)
    n = band.count(soft)
    out = image.copy()
    if n == 0:
        return out, ["decontaminate: no soft band, colours unchanged"]
    notes = []
    # The estimator costs a few box filters a pixel, far less than matting: 4x the budget.
    p = budget.plan(n, 4 * budget_px)
    k = p.reduction
    src_img, src_a, src_soft = image, alpha, soft
    if k > 1:
        src_img = np.asarray(Image.fromarray(image).reduce(k))
        src_a = np.asarray(Image.fromarray(alpha).reduce(k))
        src_soft = foreground.soft_band(src_a)
    est = foreground.Estimator(src_img, src_a)
    fg_small = src_img.copy() if k > 1 else out
    for t in band.tiles(src_soft, COLOUR_TILE, foreground.MARGIN):
        rows, cols = t.window
        fg = est.window(src_img[t.window], src_a[t.window], rows, cols)
        keep = src_soft[t.core] if k == 1 else slice(None)
        fg_small[t.core][keep] = fg[t.core_in_window][keep]
    if k > 1:
        h, w = alpha.shape
        up = np.asarray(Image.fromarray(fg_small).resize((w, h), Image.Resampling.BILINEAR))
        out[soft] = up[soft]
        notes.append(p.note("decontaminate"))
    return out, notes


def refine(rgb: Image.Image, alpha: Image.Image, options: RemoveOptions, *,
           budget_px: int | None = None) -> EdgeResult:
    """Haze cleanup (when `options.clean_haze`), then the edge mode: "none" returns the inputs,
    "decontaminate" re-estimates colour in the soft band, "matting" refines alpha in rembg's unknown
    band and then re-estimates colour. Bounded by the edge budget (`LIMITS.max_edge_band_pixels`)."""
    budget_px = LIMITS.max_edge_band_pixels if budget_px is None else budget_px
    mode = options.edge_mode
    clean = getattr(options, "clean_haze", False)
    if mode == "none" and not clean:
        return EdgeResult(alpha, rgb)
    timings: dict[str, float] = {}
    image, a = _as_arrays(rgb, alpha)
    alpha_in = a
    notes: list[str] = []
    if mode == "matting":
        t0 = time.perf_counter()
        a, more = refine_alpha(image, a, options, budget_px)
        notes += more
        timings["matting"] = time.perf_counter() - t0
    if clean:
        t0 = time.perf_counter()
        a, report = haze.clean(a)
        if report.haze_pixels or report.speck_pixels:
            notes.append(f"haze cleanup cleared {report.haze_pixels:,} faint px and {report.specks} specks "
                         f"({report.speck_pixels:,} px)")
        timings["haze"] = time.perf_counter() - t0
    out_rgb = rgb
    if mode != "none" and not options.only_mask:
        t0 = time.perf_counter()
        fg, more = decontaminate(image, a, budget_px)
        notes += more
        out_rgb = Image.fromarray(fg, "RGB")
        timings["decontaminate"] = time.perf_counter() - t0
    out_alpha = alpha if a is alpha_in else Image.fromarray(a, "L")
    return EdgeResult(out_alpha, out_rgb, tuple(notes), timings)
