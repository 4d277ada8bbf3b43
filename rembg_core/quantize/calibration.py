"""Calibration photos and the seeded, augmented batches that the int8 build calibrates on.

The photos come from scikit-image's bundled data (public domain / CC0), installed by the runtime
requirements. They are split once, here, into a calibration set and a held-out set: the quality
report only ever uses held-out photos, so agreement is measured on images calibration never saw.
Textures, scenes and close-ups calibrate; the subject photos a person would cut out are held out.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..models import ModelSpec
from ..pipeline import preprocess
from ..samples import PACKAGE_PHOTO_FILES

# sorted, fixed lists: the build must see the same images in the same order every time
CALIBRATION_PHOTOS = (
    "brick.png", "camera.png", "coins.png", "grass.png", "gravel.png",
    "hubble_deep_field.jpg", "ihc.png", "retina.jpg",
)
HELD_OUT_PHOTOS = PACKAGE_PHOTO_FILES  # the photos tests, parity and benchmarks use: never calibration
AUGMENTATIONS_PER_PHOTO = 4
SEED = 20240613


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path

    def load(self) -> Image.Image:
        with Image.open(self.path) as im:
            return im.convert("RGB")


def photo_folder() -> Path:
    """scikit-image's bundled data folder (FileNotFoundError when the package is missing)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image is not installed (pip install -r requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _photos(names: tuple[str, ...]) -> list[Photo]:
    folder = photo_folder()
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}")
    return [Photo(n, folder / n) for n in sorted(names)]


def calibration_photos() -> list[Photo]:
    return _photos(CALIBRATION_PHOTOS)


def held_out_photos() -> list[Photo]:
    return _photos(HELD_OUT_PHOTOS)


def augment(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A seeded variant: a crop of 75–100 % (a zoom once resized to the model's input), maybe mirrored.

    No colour jitter: measured, it made the int8 masks drift further from fp32's.
    """
    w, h = im.size
    scale = rng.uniform(0.75, 1.0)
    cw, ch = max(16, int(w * scale)), max(16, int(h * scale))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = im.crop((x, y, x + cw, y + ch))
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else out


def calibration_batches(spec: ModelSpec, photos: list[Photo] | None = None,
                        per_photo: int = AUGMENTATIONS_PER_PHOTO, seed: int = SEED) -> list[np.ndarray]:
    """Model inputs: each photo as it is, then `per_photo - 1` seeded variants of it.

    The build takes activation ranges from the photos alone (per_photo=1: wider MinMax ranges
    from augmented inputs cost precision everywhere) and the bias correction's channel means from
    the photos and their variants (more samples, a steadier mean).
    """
    rng = np.random.default_rng(seed)
    batches = []
    for photo in photos if photos is not None else calibration_photos():
        im = photo.load()
        batches.append(preprocess(im, spec))
        for _ in range(per_photo - 1):
            batches.append(preprocess(augment(im, rng), spec))
    return batches


class BatchReader:
    """onnxruntime.quantization's CalibrationDataReader protocol over a fixed list of batches."""

    def __init__(self, input_name: str, batches: list[np.ndarray]) -> None:
        self.input_name = input_name
        self.batches = batches
        self._it: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:
        self._it = iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
