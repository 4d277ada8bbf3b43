"""Small composites with exact truth for the edge-stage tests: a subject with hair-like strands and
a soft veil, rendered by supersampling (alpha = covered fraction of SS×SS samples), composited over a
background as alpha·F + (1 − alpha)·B. Seeded, so every run sees the same arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SS = 4


@dataclass(frozen=True)
class Truth:
    image: np.ndarray  # uint8 h×w×3, the composite
    alpha: np.ndarray  # float32 h×w in [0, 1]
    fg: np.ndarray  # float32 h×w×3 straight foreground colour in [0, 1]
    bg: np.ndarray  # float32 h×w×3

    @property
    def soft(self) -> np.ndarray:
        return (self.alpha > 0.02) & (self.alpha < 0.98)


def background(kind: str, h: int, w: int) -> np.ndarray:
    if kind == "green":
        return np.broadcast_to(np.array([0.1, 0.75, 0.2], np.float32), (h, w, 3)).copy()
    if kind == "white":
        return np.ones((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)  # an out-of-focus colour field
    return np.stack([0.5 + 0.4 * np.sin(xx / 47), 0.4 + 0.3 * np.cos(yy / 39), 0.6 + 0.3 * np.sin((xx + yy) / 61)], -1)


def strands(size: tuple[int, int] = (320, 240), bg: str = "green", seed: int = 0, veil: bool = True) -> Truth:
    w, h = size
    rng = np.random.default_rng(seed)
    colour = Image.new("RGB", (w * SS, h * SS))
    cover = Image.new("L", (w * SS, h * SS))
    dc, dm = ImageDraw.Draw(colour), ImageDraw.Draw(cover)
    cx, cy, r = w * 0.5, h * 0.62, min(w, h) * 0.3
    box = [(cx - r) * SS, (cy - r) * SS, (cx + r) * SS, (cy + r) * SS]
    dc.ellipse(box, fill=(190, 120, 70))
    dm.ellipse(box, fill=255)
    for _ in range(60):  # strands leaving the upper half of the disc
        t = rng.uniform(np.pi * 1.1, np.pi * 1.9)
        x, y = cx + r * 0.9 * np.cos(t), cy + r * 0.9 * np.sin(t)
        heading, pts = t + rng.normal(0, 0.2), [(x, y)]
        for _ in range(10):
            heading += rng.normal(0, 0.15)
            x, y = x + 5 * np.cos(heading), y + 5 * np.sin(heading)
            pts.append((x, y))
        tone = tuple(int(v) for v in rng.integers([150, 90, 40], [240, 170, 110]))
        width = max(1, round(rng.uniform(0.4, 1.5) * SS))
        dc.line([(px * SS, py * SS) for px, py in pts], fill=tone, width=width)
        dm.line([(px * SS, py * SS) for px, py in pts], fill=255, width=width)
    cov = np.asarray(cover, np.float32).reshape(h, SS, w, SS).mean(axis=(1, 3)) / 255
    pre = np.asarray(colour, np.float32).reshape(h, SS, w, SS, 3).mean(axis=(1, 3)) / 255
    alpha = cov
    fg = np.where(cov[..., None] > 0, pre / np.maximum(cov, 1e-6)[..., None], 0).clip(0, 1)
    if veil:  # a semi-transparent scarf below the disc, its opacity fading out analytically
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        v = np.clip(1 - np.hypot((xx - cx) / (r * 1.6), (yy - (cy + r)) / (r * 0.5)), 0, 1) * 0.6
        new = v + alpha * (1 - v)
        fg = np.where(new[..., None] > 0, (np.array([0.3, 0.3, 0.85]) * v[..., None]
                                            + fg * (alpha * (1 - v))[..., None]) / np.maximum(new, 1e-6)[..., None], 0)
        alpha = new
    b = background(bg, h, w)
    a3 = alpha[..., None]
    image = np.round((a3 * fg + (1 - a3) * b) * 255).clip(0, 255).astype(np.uint8)
    return Truth(image, alpha.astype(np.float32), fg.astype(np.float32), b)


def composite_error(rgb: np.ndarray, alpha: np.ndarray, truth: Truth, where: np.ndarray,
                    new_bg: tuple[float, float, float] = (0.05, 0.05, 0.05)) -> float:
    """Mean absolute error (0-255 levels) of the cutout laid over `new_bg`, against the truth there."""
    nb = np.array(new_bg, np.float32)
    a = alpha.astype(np.float32)[..., None] / 255
    ours = a * rgb.astype(np.float32) / 255 + (1 - a) * nb
    t = truth.alpha[..., None]
    want = t * truth.fg + (1 - t) * nb
    return float(np.abs(ours - want)[where].mean() * 255)
