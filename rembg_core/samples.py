"""Sample images for the dashboard: synthetic scenes drawn here, plus photos installed packages ship.

No photo is committed to the repository: the scenes are drawn with numpy and Pillow on demand,
and the optional photos are read from scikit-image's data folder when that package is installed
(it comes with the test extras, via rembg).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Sample:
    name: str
    about: str
    load: Callable[[], Image.Image]


def _vertical_gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    w, h = size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    return (np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t).repeat(w, axis=1)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], amount: float) -> np.ndarray:
    return rng.normal(0.0, amount, shape).astype(np.float32)


def apple_scene(size: tuple[int, int] = (960, 720)) -> Image.Image:
    """A shaded red apple with a leaf and a soft shadow, on a table in front of a wall."""
    w, h = size
    rng = np.random.default_rng(7)
    wall = _vertical_gradient(size, (214, 222, 230), (176, 188, 200))
    table_top = int(h * 0.68)
    table = _vertical_gradient((w, h - table_top), (150, 110, 74), (110, 78, 50))
    grain = np.sin(np.linspace(0, 60, w, dtype=np.float32))[None, :, None] * 6.0
    wall[table_top:] = table + grain
    img = np.clip(wall + _noise(rng, wall.shape, 3.0), 0, 255)

    # The apple: a radial shading so it reads as a lit sphere, not a flat disc.
    cx, cy, r = w * 0.5, h * 0.52, min(w, h) * 0.27
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (xx - cx) / r, (yy - cy) / (r * 0.95)
    d2 = dx * dx + dy * dy
    inside = d2 <= 1.0
    nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    light = np.clip(0.35 + 0.65 * (nz * 0.7 - dx * 0.35 - dy * 0.45), 0.15, 1.15)[..., None]
    apple = np.array([196, 28, 36], np.float32) * light
    highlight = np.exp(-(((xx - (cx - r * 0.35)) ** 2 + (yy - (cy - r * 0.4)) ** 2) / (2 * (r * 0.12) ** 2)))
    apple += (highlight * 120.0)[..., None]

    # Shadow on the table first, then the apple over it.
    shadow = Image.new("L", size, 0)
    ImageDraw.Draw(shadow).ellipse((cx - r * 1.05, cy + r * 0.75, cx + r * 1.15, cy + r * 1.12), fill=150)
    shadow_a = np.asarray(shadow.filter(ImageFilter.GaussianBlur(r * 0.12)), np.float32)[..., None] / 255.0
    img = img * (1.0 - 0.55 * shadow_a)
    img[inside] = np.clip(apple[inside] + _noise(rng, apple[inside].shape, 2.0), 0, 255)

    out = Image.fromarray(img.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(out)
    stem_top = (cx + r * 0.08, cy - r * 1.28)
    draw.line([(cx, cy - r * 0.85), stem_top], fill=(88, 58, 30), width=max(3, int(r * 0.07)))
    leaf = [(cx + r * 0.06, cy - r * 1.1), (cx + r * 0.45, cy - r * 1.38), (cx + r * 0.75, cy - r * 1.2),
            (cx + r * 0.42, cy - r * 1.02)]
    draw.polygon(leaf, fill=(70, 140, 50))
    draw.line([leaf[0], leaf[2]], fill=(50, 105, 35), width=2)
    return out


def robot_scene(size: tuple[int, int] = (800, 800)) -> Image.Image:
    """A blocky toy robot against a blurred, busy backdrop: harder than a plain wall."""
    w, h = size
    rng = np.random.default_rng(11)
    back = Image.new("RGB", size, (90, 120, 110))
    draw = ImageDraw.Draw(back)
    for _ in range(60):  # out-of-focus clutter
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        rad = int(rng.integers(20, 90))
        colour = tuple(int(c) for c in rng.integers(60, 200, 3))
        draw.ellipse((x - rad, y - rad, x + rad, y + rad), fill=colour)
    back = back.filter(ImageFilter.GaussianBlur(18))

    draw = ImageDraw.Draw(back)
    body = (0.33 * w, 0.42 * h, 0.67 * w, 0.78 * h)
    head = (0.38 * w, 0.18 * h, 0.62 * w, 0.40 * h)
    steel, dark, glow = (205, 208, 214), (60, 64, 72), (255, 190, 40)
    draw.rounded_rectangle(body, radius=int(0.03 * w), fill=steel, outline=dark, width=4)
    draw.rounded_rectangle(head, radius=int(0.04 * w), fill=steel, outline=dark, width=4)
    draw.ellipse((0.43 * w, 0.25 * h, 0.48 * w, 0.30 * h), fill=glow, outline=dark, width=3)
    draw.ellipse((0.52 * w, 0.25 * h, 0.57 * w, 0.30 * h), fill=glow, outline=dark, width=3)
    draw.line([(0.5 * w, 0.18 * h), (0.5 * w, 0.11 * h)], fill=dark, width=5)
    draw.ellipse((0.485 * w, 0.09 * h, 0.515 * w, 0.12 * h), fill=(220, 40, 40))
    draw.rectangle((0.24 * w, 0.45 * h, 0.32 * w, 0.50 * h), fill=steel, outline=dark, width=3)  # arms
    draw.rectangle((0.68 * w, 0.45 * h, 0.76 * w, 0.50 * h), fill=steel, outline=dark, width=3)
    draw.rectangle((0.38 * w, 0.78 * h, 0.45 * w, 0.92 * h), fill=dark)  # legs
    draw.rectangle((0.55 * w, 0.78 * h, 0.62 * w, 0.92 * h), fill=dark)
    draw.rectangle((0.42 * w, 0.50 * h, 0.58 * w, 0.62 * h), fill=(70, 150, 200), outline=dark, width=3)
    arr = np.asarray(back, np.float32) + _noise(rng, (h, w, 3), 2.5)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


@cache
def _skimage_data() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    return folder if folder.is_dir() else None


# Real photos that scikit-image ships (no download): parity tests and benchmarks use them when
# rembg's own fixtures are not beside the project.
PACKAGE_PHOTO_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")
PEER_SUITE_ENV = "REMBG_LAB_PEER_SUITE"


def package_photos() -> list[Path]:
    """Paths of scikit-image's bundled photos that exist here (empty without scikit-image)."""
    folder = _skimage_data()
    return [folder / f for f in PACKAGE_PHOTO_FILES if folder is not None and (folder / f).is_file()]


def peer_suite_path() -> Path:
    """Where rembg's test fixtures and golden image are looked for: `$REMBG_LAB_PEER_SUITE`, else
    `../shared/peer-suite` beside the project (whether or not it is there)."""
    return Path(os.environ.get(PEER_SUITE_ENV) or Path(__file__).resolve().parents[2] / "shared" / "peer-suite")


def peer_suite() -> Path | None:
    """The peer suite's folder, or None when it is not there (a clone alone does not have it)."""
    folder = peer_suite_path()
    return folder if any((folder / "fixtures").glob("*.jpg")) else None


def _package_photo(filename: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        folder = _skimage_data()
        if folder is None:
            raise FileNotFoundError("scikit-image is not installed")
        with Image.open(folder / filename) as im:
            return im.convert("RGB")
    return load


_PACKAGE_PHOTOS = (
    ("Cat (scikit-image)", "chelsea.png", "Chelsea the cat, from scikit-image's bundled data (CC0)"),
    ("Astronaut (scikit-image)", "astronaut.png", "Eileen Collins, NASA portrait, from scikit-image's data"),
    ("Coffee (scikit-image)", "coffee.png", "A cup of coffee, from scikit-image's bundled data (CC0)"),
)


def available() -> dict[str, Sample]:
    """Every sample that can be shown here: the drawn scenes always, package photos when installed."""
    out = {
        "Apple on a table (drawn)": Sample("Apple on a table (drawn)", "a synthetic scene drawn with Pillow", apple_scene),
        "Toy robot (drawn)": Sample("Toy robot (drawn)", "a synthetic scene on a busy, blurred backdrop", robot_scene),
    }
    folder = _skimage_data()
    for name, filename, about in _PACKAGE_PHOTOS:
        if folder is not None and (folder / filename).is_file():
            out[name] = Sample(name, about, _package_photo(filename))
    return out
