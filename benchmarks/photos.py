"""Benchmark inputs: seeded crops, flips and rescales of a few real photos, saved as JPEGs."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageOps


def variants(sources: list[Image.Image], dest: Path, n: int, megapixels: float, *, seed: int,
             min_crop: float = 0.6, prefix: str = "img") -> list[Path]:
    """`n` JPEGs of about `megapixels` each in `dest`, cycling through `sources` (RGB images)."""
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        im = sources[i % len(sources)]
        w, h = im.size
        f = rng.uniform(min_crop, 1.0)
        cw, ch = int(w * f), int(h * f)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = im.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        scale = (megapixels * 1e6 * rng.uniform(0.9, 1.1) / (cw * ch)) ** 0.5
        crop = crop.resize((round(cw * scale), round(ch * scale)), Image.Resampling.BICUBIC)
        path = dest / f"{prefix}{i:04d}.jpg"
        crop.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths
