"""The standard matting figures (Rhemann et al., CVPR 2009, as alphamatting.com and the Deep Image
Matting evaluation code compute them), plus the composite error on a new background.

Alpha is in [0, 1] throughout. Over a region R (a boolean mask):

- SAD  = Σ_R |α̂ − α| / 1000                                 (alphamatting.com's "SAD / 1000")
- MSE  = mean_R (α̂ − α)² × 1000                              (per pixel, shown ×10³)
- Grad = Σ_R (‖∇α̂‖ − ‖∇α‖)² / 1000, ∇ = first derivative of a Gaussian, σ = 1.4, the kernel
         normalised to unit L2 norm as gaussgradient.m does (no mat2gray rescaling: α is already
         in [0, 1], and rescaling a matte that never reaches 1 would invent contrast)
- Conn = Σ_R |φ(α̂) − φ(α)| / 1000, thresholds 0, 0.1, …, 1: l_i is the last threshold at which
         pixel i still belongs to the largest 4-connected component of (α̂ ≥ t) ∧ (α ≥ t)
         (1 if it always does); d = α − l; φ = 1 − d·[d ≥ 0.15]
- Composite = RMS over R and the three channels of (α̂F̂ + (1 − α̂)B) − (αF + (1 − α)B), in 8-bit
         levels, averaged in the square over the new backgrounds B = black and B = white: the
         error a designer sees placing the cutout on something new (a dark fringe shows on white,
         a light halo on black).

Regions: `whole` (every pixel) and `band`, the soft band: pixels with 0 < α < 1 in the truth,
dilated by BAND_DILATION pixels (a square), so an edge a mode smears a little wider is counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

GRAD_SIGMA = 1.4
CONN_STEP = 0.1
CONN_MIN_DISTANCE = 0.15
BAND_DILATION = 2  # pixels
NEW_BACKGROUNDS = {"black": (0.0, 0.0, 0.0), "white": (1.0, 1.0, 1.0)}
FIGURES = ("sad", "mse", "grad", "conn", "composite")
UNITS = {"sad": "Σ|Δα| ÷ 10³", "mse": "mean Δα² × 10³", "grad": "Σ Δ‖∇α‖² ÷ 10³", "conn": "Σ|Δφ| ÷ 10³",
         "composite": "RMS, 8-bit levels"}


@dataclass(frozen=True)
class Scores:
    """The five figures over one region; lower is better for all of them."""

    sad: float
    mse: float
    grad: float
    conn: float
    composite: float
    pixels: int  # the region's size

    def to_dict(self) -> dict:
        return asdict(self)


def _check(pred: np.ndarray, truth: np.ndarray) -> None:
    if pred.shape != truth.shape or pred.ndim != 2:
        raise ValueError(f"alpha shapes differ or are not 2-D: {pred.shape} vs {truth.shape}")


def soft_band(alpha: np.ndarray, dilation: int = BAND_DILATION) -> np.ndarray:
    """Truth pixels strictly between 0 and 1, dilated by `dilation` pixels (square)."""
    soft = (alpha > 0) & (alpha < 1)
    if dilation <= 0:
        return soft
    return ndimage.binary_dilation(soft, structure=np.ones((2 * dilation + 1, 2 * dilation + 1), bool))


def sad(pred: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None) -> float:
    _check(pred, truth)
    d = np.abs(pred.astype(np.float64) - truth)
    return float(d[region].sum() if region is not None else d.sum()) / 1000


def mse(pred: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None) -> float:
    _check(pred, truth)
    d = (pred.astype(np.float64) - truth) ** 2
    d = d[region] if region is not None else d
    return float(d.mean()) * 1000 if d.size else 0.0


def _gauss_gradient_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The separable halves of gaussgradient.m's kernel: G(y)·G'(x), normalised to unit L2 norm."""
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * 1e-2))))
    u = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-u * u / (2 * sigma * sigma)) / (sigma * np.sqrt(2 * np.pi))
    dg = -u * g / (sigma * sigma)
    norm = np.sqrt((g * g).sum() * (dg * dg).sum())
    return g, dg / norm


def gradient_magnitude(alpha: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    g, dg = _gauss_gradient_kernels(sigma)
    a = alpha.astype(np.float64)
    # convolution (the kernel flipped): correlate with the reversed derivative
    gx = ndimage.correlate1d(ndimage.correlate1d(a, g, axis=0, mode="nearest"), dg[::-1], axis=1, mode="nearest")
    gy = ndimage.correlate1d(ndimage.correlate1d(a, g, axis=1, mode="nearest"), dg[::-1], axis=0, mode="nearest")
    return np.hypot(gx, gy)


def gradient_error(pred: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None) -> float:
    _check(pred, truth)
    d = (gradient_magnitude(pred) - gradient_magnitude(truth)) ** 2
    return float(d[region].sum() if region is not None else d.sum()) / 1000


def _levels(pred: np.ndarray, truth: np.ndarray, step: float) -> np.ndarray:
    """l: per pixel, the last threshold at which it lies in the largest 4-connected component of
    both mattes above the threshold (1.0 if it never leaves it)."""
    thresholds = np.arange(0.0, 1.0 + step / 2, step)
    level = np.full(pred.shape, -1.0)
    four = ndimage.generate_binary_structure(2, 1)
    for prev, t in zip(thresholds[:-1], thresholds[1:]):
        labels, n = ndimage.label((pred >= t) & (truth >= t), structure=four)
        if n:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            omega = labels == int(sizes.argmax())
        else:
            omega = np.zeros(pred.shape, bool)
        level[(level == -1) & ~omega] = prev
    level[level == -1] = 1.0
    return level


def connectivity_error(pred: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None,
                       step: float = CONN_STEP) -> float:
    _check(pred, truth)
    p, t = pred.astype(np.float64), truth.astype(np.float64)
    level = _levels(p, t, step)
    dp, dt = p - level, t - level
    phi_p = 1 - dp * (dp >= CONN_MIN_DISTANCE)
    phi_t = 1 - dt * (dt >= CONN_MIN_DISTANCE)
    d = np.abs(phi_p - phi_t)
    return float(d[region].sum() if region is not None else d.sum()) / 1000


def composite_error(pred_alpha: np.ndarray, pred_fg: np.ndarray, truth_alpha: np.ndarray, truth_fg: np.ndarray,
                    region: np.ndarray | None = None) -> float:
    """RMS difference of the two composites over the new backgrounds, in 8-bit levels."""
    _check(pred_alpha, truth_alpha)
    pa, ta = pred_alpha.astype(np.float64)[..., None], truth_alpha.astype(np.float64)[..., None]
    pf, tf = pred_fg.astype(np.float64), truth_fg.astype(np.float64)
    total, count = 0.0, 0
    for rgb in NEW_BACKGROUNDS.values():
        b = np.asarray(rgb)
        d = (pa * pf + (1 - pa) * b) - (ta * tf + (1 - ta) * b)
        d = d[region] if region is not None else d.reshape(-1, 3)
        total += float((d * d).sum())
        count += d.size
    return float(np.sqrt(total / count) * 255) if count else 0.0


def score(pred_alpha: np.ndarray, pred_fg: np.ndarray, truth_alpha: np.ndarray, truth_fg: np.ndarray,
          region: np.ndarray | None = None) -> Scores:
    """All five figures over `region` (None: the whole image)."""
    n = int(region.sum()) if region is not None else truth_alpha.size
    return Scores(sad(pred_alpha, truth_alpha, region), mse(pred_alpha, truth_alpha, region),
                  gradient_error(pred_alpha, truth_alpha, region), connectivity_error(pred_alpha, truth_alpha, region),
                  composite_error(pred_alpha, pred_fg, truth_alpha, truth_fg, region), n)


def split_rgba(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An (H, W, 4) uint8 cutout as it is saved: straight colour, as any viewer composites it."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected an (H, W, 4) RGBA array, got {rgba.shape}")
    return rgba[..., 3].astype(np.float32) / 255, rgba[..., :3].astype(np.float32) / 255
