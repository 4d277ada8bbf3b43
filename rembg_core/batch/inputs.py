"""Batch inputs: paths, folders, uploads and zip archives become `BatchItem`s, nothing decoded yet.

Zip safety lives here: entry count and declared size are checked before any member is read;
absolute, traversing, NUL-named, encrypted and nested-archive members are refused one by one.
"""

from __future__ import annotations

import io
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

from ..errors import ImageLoadError, RembgCoreError
from ..imageio import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from ..limits import LIMITS

ARCHIVE_SUFFIXES = frozenset({".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".jar"})


ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BZh", b"\xfd7zXZ")


_DRIVE = re.compile(r"^[A-Za-z]:")


# (name, bytes) or (name, a callable returning the bytes), e.g. a Streamlit upload's getvalue
Upload = tuple[str, bytes | Callable[[], bytes]]


BatchInput = str | os.PathLike | Upload


class BatchLimitError(RembgCoreError):
    """The batch as a whole is over a limit (too many items)."""


@dataclass(frozen=True)
class BatchLimits:
    """Every limit of a batch, in one place."""

    # defaults come from rembg_core.limits (env-overridable, documented in the README)
    max_items: int = LIMITS.max_batch_items  # images in one batch
    max_zip_entries: int = LIMITS.max_zip_entries  # entries in one archive, folders included
    max_zip_bytes: int = LIMITS.max_zip_bytes  # total uncompressed size an archive declares
    max_item_bytes: int = LIMITS.max_item_bytes  # one input file or member, before decoding
    max_in_flight: int = 3  # items read but not yet handed to the caller: bounds images in memory
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        for name in ("max_items", "max_zip_entries", "max_zip_bytes", "max_item_bytes", "max_in_flight"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True)
class BatchItem:
    """One input, not read yet."""

    name: str  # as the user knows it: a path, an upload's name, or "archive.zip:member.png"
    rel: str  # relative path the output is named after ("a.jpg", "sub/b.png")
    read: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)
    refused: str | None = None  # known bad before reading (unsafe zip entry, nested archive...)
    in_archive: bool = False


class NestedArchiveError(ImageLoadError):
    pass


def _read_file(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise ImageLoadError(f"{size / 1e6:.0f} MB is over the {limit / 1e6:.0f} MB per-file limit")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError("no such file") from None
    except IsADirectoryError:
        raise ImageLoadError("is a folder, not an image file") from None
    except PermissionError:
        raise ImageLoadError("permission denied") from None
    except OSError as exc:
        raise ImageLoadError(f"cannot read: {exc.strerror or exc}") from None


class _Archive:
    """One open zip shared by its members' readers (reopening it per member would re-parse the
    central directory every time). The loader is the only reader; the lock is for safety."""

    def __init__(self, open_fp: Callable[[], io.IOBase]) -> None:
        self._open_fp = open_fp
        self._zf: zipfile.ZipFile | None = None
        self._lock = threading.Lock()

    def read(self, info: zipfile.ZipInfo) -> bytes:
        with self._lock:
            if self._zf is None:
                self._zf = zipfile.ZipFile(self._open_fp())
            try:
                return self._zf.read(info)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError,
                    RuntimeError, ValueError) as exc:
                raise ImageLoadError(f"damaged archive member: {exc}") from None

    def close(self) -> None:
        with self._lock:
            if self._zf is not None:
                self._zf.close()
                self._zf = None


def unsafe_member_name(name: str) -> str | None:
    """Why a zip entry name must not become a path, or None when it is safe."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or _DRIVE.match(posix):
        return "absolute path in archive entry (refused)"
    if ".." in posix.split("/"):
        return "path traversal ('..') in archive entry (refused)"
    if "\0" in name:
        return "NUL byte in archive entry name (refused)"
    return None


def _skipped_member(name: str) -> bool:
    """Folders' own entries, macOS resource forks and dotfiles are not inputs."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    return not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


def items_from_zip(name: str, open_fp: Callable[[], io.IOBase], limits: BatchLimits = BatchLimits()) -> list[BatchItem]:
    """The image members of a zip, each readable lazily. A zip over a limit is one refused item."""
    try:
        with zipfile.ZipFile(open_fp()) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [BatchItem(name, name, refused=f"not a readable zip archive ({reason})")]
    if len(infos) > limits.max_zip_entries:
        return [BatchItem(name, name, refused=f"archive has {len(infos)} entries, over the limit of "
                                              f"{limits.max_zip_entries}")]
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_zip_bytes:
        return [BatchItem(name, name, refused=f"archive unpacks to {declared / 1e6:.0f} MB, over the "
                                              f"{limits.max_zip_bytes / 1e6:.0f} MB limit")]
    archive = _Archive(open_fp)
    items: list[BatchItem] = []
    for info in infos:
        label = f"{name}:{info.filename}"
        if info.is_dir():
            continue
        if unsafe := unsafe_member_name(info.filename):
            items.append(BatchItem(label, info.filename, refused=unsafe))
            continue
        if _skipped_member(info.filename):
            continue
        suffix = PurePosixPath(info.filename).suffix.lower()
        if suffix in ARCHIVE_SUFFIXES:
            items.append(BatchItem(label, info.filename, refused="nested archive (archives inside archives are not opened)"))
        elif suffix not in IMAGE_SUFFIXES:
            kind = f"'{suffix}' file" if suffix else "file without an extension"
            items.append(BatchItem(label, info.filename, refused=f"skipped: a {kind} is not an image"))
        elif info.flag_bits & 0x1:
            items.append(BatchItem(label, info.filename, refused="encrypted archive member"))
        elif info.file_size > limits.max_item_bytes:
            items.append(BatchItem(label, info.filename, refused=f"{info.file_size / 1e6:.0f} MB is over the "
                                                                 f"{limits.max_item_bytes / 1e6:.0f} MB per-file limit"))
        else:
            items.append(BatchItem(label, info.filename, read=partial(archive.read, info), in_archive=True))
    return items


def _bytes_io(read: Callable[[], bytes]) -> io.BytesIO:
    return io.BytesIO(read())


def _is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def collect(inputs: Iterable[BatchInput], limits: BatchLimits = BatchLimits()) -> list[BatchItem]:
    """Expand paths, folders (their image files, sorted), uploads and zips into items.

    Nothing is decoded here; an upload's bytes are held by reference, a file's or member's are
    read when the item is processed. Raises BatchLimitError when there are over max_items.
    """
    items: list[BatchItem] = []
    for entry in inputs:
        if isinstance(entry, tuple):
            up_name, data = entry
            read: Callable[[], bytes] = data if callable(data) else partial(bytes, data)
            if _is_zip_name(up_name):
                items += items_from_zip(up_name, partial(_bytes_io, read), limits)
            else:
                items.append(BatchItem(up_name, PurePosixPath(up_name.replace("\\", "/")).name, read=read))
            continue
        path = Path(entry)
        if path.is_dir():
            for p in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                            and not p.name.startswith(".")):
                items.append(BatchItem(str(p), p.name, read=partial(_read_file, p, limits.max_item_bytes)))
        elif _is_zip_name(path.name) and path.is_file():
            items += items_from_zip(str(entry), partial(open, path, "rb"), limits)
        else:
            items.append(BatchItem(str(entry), path.name, read=partial(_read_file, path, limits.max_item_bytes)))
        if len(items) > limits.max_items:
            break
    if len(items) > limits.max_items:
        raise BatchLimitError(f"more than {limits.max_items} images in one batch")
    return items


read_file = _read_file  # public for rembg_core.distributed: its actors read local files with the same reasons
