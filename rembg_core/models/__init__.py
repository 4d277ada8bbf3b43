"""Models: the registry (what exists) and the store (verified local copies, fetching)."""

from .reach import Availability, availability
from .registry import (DEFAULT_MODEL, IMAGENET_MEAN, IMAGENET_STD, REGISTRY, ModelSpec, Recipe, WheelSource, get_spec,
                       model_path, models_dir, rembg_dirs)
from .store import (Progress, checksum, damage, expected_checksum, fetch, file_digest, is_available, is_valid,
                    verify)

__all__ = [
    "Availability", "DEFAULT_MODEL", "availability", "IMAGENET_MEAN", "IMAGENET_STD", "REGISTRY", "ModelSpec", "Progress", "Recipe", "WheelSource",
    "checksum", "damage", "expected_checksum", "fetch", "file_digest", "get_spec", "is_available", "is_valid",
    "model_path", "models_dir", "rembg_dirs", "verify",
]
