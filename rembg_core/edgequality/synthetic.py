"""Composites whose alpha and foreground colour are known exactly: the truth edge modes are scored on.

A foreground is rendered as coverage: shapes are drawn on a canvas `SS`× finer than the output and
box-averaged, so a pixel's alpha is the fraction of its SS×SS samples the shape covers, and its
premultiplied colour is the mean of the covered samples' colours (true foreground = premultiplied /
alpha). The veil's own opacity is an analytic field evaluated per pixel and laid over the rest with
the "over" operator. The photo is then exactly `alpha·F + (1 − alpha)·B`, rounded to 8 bits once:
the truth and the image agree to within half a level.

Everything is seeded: the same name, size and seed give the same arrays on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from ..imageio import ImageSource, load_image

SS = 8  # samples per pixel side: coverage is exact to 1/64 of a pixel's area
FOREGROUNDS = ("strands", "fur", "veil")
BACKGROUNDS = ("green", "bokeh", "white")
DEFAULT_SIZE = 512
CUTOUT_MAX_SIDE = 640  # a user's cutout is scaled to fit this (in premultiplied float, so truth stays exact)


@dataclass(frozen=True)
class Layer:
    """A foreground with its truth: alpha in [0, 1] and straight colour in [0, 1] (0 where alpha is 0)."""

    name: str
    alpha: np.ndarray = field(repr=False)  # (H, W) float32
    fg: np.ndarray = field(repr=False)  # (H, W, 3) float32

    def __post_init__(self) -> None:
        h, w = self.alpha.shape
        if self.fg.shape != (h, w, 3):
            raise ValueError(f"foreground colour is {self.fg.shape}, alpha is {self.alpha.shape}")


@dataclass(frozen=True)
class Composite:
    """What the model sees (`image`) and the truth it is scored against."""

    foreground: str
    background: str
    image: np.ndarray = field(repr=False)  # (H, W, 3) uint8
    alpha: np.ndarray = field(repr=False)  # (H, W) float32, exact
    fg: np.ndarray = field(repr=False)  # (H, W, 3) float32, exact straight colour
    bg: np.ndarray = field(repr=False)  # (H, W, 3) float32

    @property
    def name(self) -> str:
        return f"{self.foreground}/{self.background}"

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape[1], self.alpha.shape[0]

    def pil(self) -> Image.Image:
        return Image.fromarray(self.image, "RGB")


# --- rendering at SS× -------------------------------------------------------------


class _Canvas:
    """A supersampled colour canvas: draw opaque shapes on it, then `resolve()` to alpha and colour."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.color = Image.new("RGB", (w * SS, h * SS))
        self.cover = Image.new("L", (w * SS, h * SS))
        self._dc, self._dm = ImageDraw.Draw(self.color), ImageDraw.Draw(self.cover)

    def ellipse(self, box: tuple[float, float, float, float], rgb: tuple[int, int, int]) -> None:
        xy = [v * SS for v in box]
        self._dc.ellipse(xy, fill=rgb)
        self._dm.ellipse(xy, fill=255)

    def polygon(self, points: list[tuple[float, float]], rgb: tuple[int, int, int]) -> None:
        xy = [(x * SS, y * SS) for x, y in points]
        self._dc.polygon(xy, fill=rgb)
        self._dm.polygon(xy, fill=255)

    def strand(self, points: np.ndarray, width: float, rgb: tuple[int, int, int]) -> None:
        """A curve of `width` pixels (sub-pixel widths are fine: coverage is what is drawn)."""
        w = max(1, round(width * SS))
        xy = [(float(x) * SS, float(y) * SS) for x, y in points]
        self._dc.line(xy, fill=rgb, width=w, joint="curve")
        self._dm.line(xy, fill=255, width=w, joint="curve")

    def resolve(self, name: str) -> Layer:
        cover = _box_mean(np.asarray(self.cover), self.h, self.w) / 255.0
        color = np.asarray(self.color)
        premult = np.stack([_box_mean(color[..., c], self.h, self.w) for c in range(3)], -1) / 255.0
        return Layer(name, cover.astype(np.float32), _unpremultiply(premult, cover))


def _box_mean(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Mean of each SS×SS block, in float64 (exact: at most 64 samples of 8 bits each)."""
    return a.reshape(h, SS, w, SS).mean(axis=(1, 3))


def _unpremultiply(premult: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    safe = np.where(alpha > 0, alpha, 1.0)[..., None]
    return np.where(alpha[..., None] > 0, np.clip(premult / safe, 0.0, 1.0), 0.0).astype(np.float32)


def _curve(rng: np.random.Generator, start: np.ndarray, direction: float, length: float, bend: float,
           steps: int = 12) -> np.ndarray:
    """A smooth random curve: a heading that drifts, integrated in short steps."""
    headings = direction + np.cumsum(rng.normal(0.0, bend, steps))
    step = length / steps
    offsets = np.cumsum(np.stack([np.cos(headings), np.sin(headings)], -1) * step, axis=0)
    return np.vstack([start, start + offsets])


def _shade(rng: np.random.Generator, base: tuple[int, int, int], spread: int) -> tuple[int, int, int]:
    d = int(rng.integers(-spread, spread + 1))  # lighter or darker, never another hue
    r, g, b = (int(np.clip(c + d, 0, 255)) for c in base)
    return (r, g, b)


# --- procedural foregrounds ------------------------------------------------------


def strands(w: int, h: int, seed: int = 0) -> Layer:
    """A head of hair: an opaque oval with long, thin, curling strands (0.3–1.6 px wide) around its top."""
    rng = np.random.default_rng(seed)
    c = _Canvas(w, h)
    cx, cy, rx, ry = w * 0.5, h * 0.58, w * 0.24, h * 0.3
    c.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), (92, 58, 36))
    for _ in range(int(0.45 * (w + h))):
        t = rng.uniform(np.pi * 1.05, np.pi * 1.95)  # the upper half of the oval
        start = np.array([cx + 0.92 * rx * np.cos(t), cy + 0.92 * ry * np.sin(t)])
        curve = _curve(rng, start, t + rng.normal(0, 0.25), rng.uniform(0.08, 0.22) * min(w, h), 0.12)
        c.strand(curve, rng.uniform(0.3, 1.6), _shade(rng, (150, 104, 62), 45))
    return c.resolve("strands")


def fur(w: int, h: int, seed: int = 0) -> Layer:
    """A furry animal's back: an opaque blob with dense short hairs (0.25–1 px wide) all round its edge."""
    rng = np.random.default_rng(seed + 1)
    c = _Canvas(w, h)
    cx, cy, rx, ry = w * 0.5, h * 0.55, w * 0.33, h * 0.27
    c.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), (196, 138, 80))
    perimeter = np.pi * (rx + ry)
    for _ in range(int(perimeter * 2.2)):
        t = rng.uniform(0, 2 * np.pi)
        start = np.array([cx + 0.97 * rx * np.cos(t), cy + 0.97 * ry * np.sin(t)])
        normal = np.arctan2(np.sin(t) / ry, np.cos(t) / rx)
        curve = _curve(rng, start, normal + rng.normal(0, 0.35), rng.uniform(4, 16) * min(w, h) / 512, 0.1, 5)
        tone = (236, 200, 150) if rng.random() < 0.3 else (176, 116, 60)
        c.strand(curve, rng.uniform(0.25, 1.0), _shade(rng, tone, 25))
    return c.resolve("fur")


def veil(w: int, h: int, seed: int = 0) -> Layer:
    """A figure under a semi-transparent veil: an opaque body, and over it a sheer cloth (opacity
    0.25–0.6 in folds) that reaches past the body with a soft, analytic edge."""
    rng = np.random.default_rng(seed + 2)
    c = _Canvas(w, h)
    cx = w * 0.5
    c.ellipse((cx - w * 0.11, h * 0.2, cx + w * 0.11, h * 0.46), (206, 160, 130))  # head
    c.polygon([(cx - w * 0.2, h * 0.98), (cx - w * 0.13, h * 0.5), (cx + w * 0.13, h * 0.5),
               (cx + w * 0.2, h * 0.98)], (60, 70, 120))  # body
    body = c.resolve("body")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    # The veil's outline: a wide bell whose half-width at height y is `half(y)`; opacity falls
    # to zero over `soft` pixels across it (smoothstep), folds modulate the inside.
    top, phase = h * 0.12, rng.uniform(0, 2 * np.pi)
    half = np.clip((yy - top) / (h * 0.8), 0, 1) ** 0.6 * w * 0.36 + w * 0.05
    soft = 3.0 + 5.0 * np.clip((yy - top) / h, 0, 1)
    inside = np.clip((half - np.abs(xx - cx)) / soft, 0, 1) * np.clip((yy - top) / soft, 0, 1)
    inside = inside * inside * (3 - 2 * inside)
    folds = 0.425 + 0.175 * np.sin(xx / w * 2 * np.pi * 7 + phase + 2.0 * np.sin(yy / h * 5))
    av = (inside * folds).astype(np.float64)
    fv = np.array([0.94, 0.93, 0.97])
    alpha = av + body.alpha * (1 - av)
    premult = av[..., None] * fv + ((1 - av) * body.alpha)[..., None] * body.fg
    return Layer("veil", alpha.astype(np.float32), _unpremultiply(premult, alpha))


PROCEDURAL: dict[str, Callable[[int, int, int], Layer]] = {"strands": strands, "fur": fur, "veil": veil}


def cutout(source: ImageSource, name: str | None = None, max_side: int = CUTOUT_MAX_SIDE) -> Layer:
    """A user's RGBA cutout as truth: its alpha and straight colour, scaled to fit `max_side` in
    premultiplied float (so the truth stays exact) with a margin, so the model sees the whole subject.
    Raises ImageLoadError for what is not an image, ValueError for an image without transparency."""
    loaded = load_image(source)
    label = name or (str(source) if isinstance(source, str) else "cutout")
    a = None if loaded.alpha is None else np.asarray(loaded.alpha, dtype=np.float64) / 255.0
    if a is None or a.min() >= 1.0:
        raise ValueError("has no transparency: give an RGBA cutout (a PNG or WebP with alpha)")
    if a.max() <= 0.0:
        raise ValueError("is fully transparent: there is no subject to score")
    rgb = np.asarray(loaded.rgb, dtype=np.float64) / 255.0
    premult = rgb * a[..., None]
    w, h = loaded.rgb.size
    scale = min(1.0, max_side / max(w, h))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        a = _resize(a, nw, nh)
        premult = np.stack([_resize(premult[..., k], nw, nh) for k in range(3)], -1)
    pad = max(8, round(0.08 * max(nw, nh)))
    alpha = np.zeros((nh + 2 * pad, nw + 2 * pad))
    pm = np.zeros((nh + 2 * pad, nw + 2 * pad, 3))
    alpha[pad:pad + nh, pad:pad + nw] = np.clip(a, 0, 1)
    pm[pad:pad + nh, pad:pad + nw] = np.clip(premult, 0, 1)
    return Layer(label, alpha.astype(np.float32), _unpremultiply(np.minimum(pm, alpha[..., None]), alpha))


def _resize(channel: np.ndarray, w: int, h: int) -> np.ndarray:
    im = Image.fromarray(channel.astype(np.float32), "F").resize((w, h), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.float64)


# --- backgrounds --------------------------------------------------------------------


def background(kind: str, w: int, h: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) float in [0, 1]: `green` (a lit green screen), `bokeh` (an out-of-focus colour
    field) or `white`."""
    rng = np.random.default_rng(seed + 10)
    if kind == "white":
        return np.ones((h, w, 3))
    if kind == "green":
        yy = np.linspace(-1, 1, h)[:, None, None]
        base = np.array([0.0, 177, 64]) / 255 * (1 + 0.05 * yy)  # a little uneven light
        return np.clip(base + rng.normal(0, 0.6 / 255, (h, w, 3)), 0, 1) * np.ones((h, w, 3))
    if kind == "bokeh":
        from scipy.ndimage import gaussian_filter

        small = rng.uniform(0.05, 0.95, (6, 6, 3))
        field_ = np.asarray(Image.fromarray((small * 255).astype(np.uint8), "RGB").resize(
            (w, h), Image.Resampling.BICUBIC), dtype=np.float64) / 255
        yy, xx = np.mgrid[0:h, 0:w]
        for _ in range(12):  # out-of-focus highlights
            x0, y0, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.09) * min(w, h)
            disk = ((xx - x0) ** 2 + (yy - y0) ** 2 < r * r).astype(np.float64)
            field_ += 0.35 * disk[..., None] * rng.uniform(0.3, 1.0, 3)
        return np.clip(gaussian_filter(field_, sigma=(min(w, h) / 80, min(w, h) / 80, 0)), 0, 1)
    raise ValueError(f"unknown background {kind!r}: choose from {', '.join(BACKGROUNDS)}")


def composite(layer: Layer, bg_kind: str, seed: int = 0) -> Composite:
    """`layer` over background `bg_kind`, rounded to 8 bits once."""
    h, w = layer.alpha.shape
    bg = background(bg_kind, w, h, seed)
    a = layer.alpha.astype(np.float64)[..., None]
    photo = a * layer.fg + (1 - a) * bg
    image = np.clip(np.rint(photo * 255), 0, 255).astype(np.uint8)
    return Composite(layer.name, bg_kind, image, layer.alpha, layer.fg, bg.astype(np.float32))


def procedural(kind: str, size: int = DEFAULT_SIZE, seed: int = 0) -> Layer:
    if kind not in PROCEDURAL:
        raise ValueError(f"unknown foreground {kind!r}: choose from {', '.join(FOREGROUNDS)}")
    return PROCEDURAL[kind](size, size, seed)


def suite(foregrounds: tuple[str, ...] = FOREGROUNDS, backgrounds: tuple[str, ...] = BACKGROUNDS, *,
          cutouts: tuple[Layer, ...] = (), size: int = DEFAULT_SIZE, seed: int = 0) -> list[Composite]:
    """Every foreground (procedural and given cutouts) over every background."""
    layers = [procedural(k, size, seed) for k in foregrounds] + list(cutouts)
    return [composite(layer, b, seed) for layer in layers for b in backgrounds]
