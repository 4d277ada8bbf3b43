"""Inputs of a distributed job: plain rows that any node can read.

The serial batch turns inputs into `BatchItem`s with closures that read the bytes; a Ray actor
on another machine cannot call a closure made on the driver, so here each item becomes a
`Source` — the same name, output name and refusal as `batch.collect` gives, plus where to read
it from: an absolute local path, a pyarrow filesystem URI (`s3://bucket/key`), a zip member
inside either, or the bytes themselves (uploads).
"""

from __future__ import annotations

import functools
import glob
import io
import os
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..batch import BatchInput, BatchLimitError, BatchLimits, collect, items_from_zip
from ..batch.inputs import read_file
from ..errors import ImageLoadError
from ..imageio import IMAGE_SUFFIXES

_GLOB_CHARS = ("*", "?", "[")


@dataclass(frozen=True)
class Source:
    """One input as a row: what the user called it, what its output is named after, how to read it."""

    index: int
    name: str  # as in the serial batch's messages: the path given, or "archive.zip:member.png"
    rel: str  # the output is named after this
    uri: str = ""  # absolute local path or filesystem URI; "" when `data` holds the bytes
    member: str = ""  # the zip member inside `uri`, or ""
    refused: str = ""  # known bad before reading (unsafe zip entry, nested archive, ...)
    data: bytes | None = field(default=None, repr=False)

    def row(self) -> dict[str, Any]:
        return asdict(self)


def is_uri(text: str) -> bool:
    return "://" in text and not Path(text).exists()


def _filesystem(uri: str):
    """(pyarrow filesystem, path inside it) for a URI."""
    from pyarrow import fs

    return fs.FileSystem.from_uri(uri)


def _remote_files(uri: str) -> list[str]:
    """A URI's image files: the object itself, a folder's images (sorted), or a glob's matches."""
    from fnmatch import fnmatch

    from pyarrow import fs

    scheme, rest = uri.split("://", 1)
    if _has_glob(rest):
        first = min(rest.index(c) for c in _GLOB_CHARS if c in rest)
        filesystem, base = _filesystem(f"{scheme}://{rest[:first].rsplit('/', 1)[0]}")
        infos = filesystem.get_file_info(fs.FileSelector(base, recursive=False))
        # one folder level: the pattern is matched against paths as the filesystem spells them
        pattern = base.rstrip("/") + rest[rest[:first].rfind("/"):]
        return sorted(f"{scheme}://{i.path}" for i in infos if i.type == fs.FileType.File and fnmatch(i.path, pattern))
    filesystem, path = _filesystem(uri)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.Directory:
        infos = filesystem.get_file_info(fs.FileSelector(path, recursive=False))
        return sorted(f"{scheme}://{i.path}" for i in infos if i.type == fs.FileType.File
                      and PurePosixPath(i.path).suffix.lower() in IMAGE_SUFFIXES
                      and not PurePosixPath(i.path).name.startswith("."))
    return [uri]


def _has_glob(text: str) -> bool:
    return any(c in text for c in _GLOB_CHARS)


def _local(entry: str | os.PathLike) -> list[str]:
    """A glob's sorted matches (the shell would have expanded it); anything else as given."""
    text = os.fspath(entry)
    if _has_glob(text) and not Path(text).exists():
        return sorted(glob.glob(text)) or [text]  # no match: reported as "no such file" by the read
    return [text]


def expand(inputs: Iterable[BatchInput], limits: BatchLimits = BatchLimits()) -> list[Source]:
    """Files, folders, globs, zips, URIs and uploads → Sources, in the serial batch's order.

    Local inputs go through `batch.collect` itself, so names, output names and refusals are the
    serial batch's. Raises BatchLimitError when there are over max_items.
    """
    sources: list[Source] = []

    def add(name: str, rel: str, **where: Any) -> None:
        sources.append(Source(len(sources), name, rel, **where))

    for entry in inputs:
        if isinstance(entry, tuple):  # an upload: the bytes travel with the row
            for item in collect([entry], limits):
                add(item.name, item.rel, refused=item.refused or "",
                    data=None if item.refused else _read_upload(item))
            continue
        text = os.fspath(entry)
        if is_uri(text):
            for uri in _remote_files(text):
                if uri.lower().endswith(".zip"):
                    for item in items_from_zip(uri, functools.partial(_open_remote, uri), limits):
                        add(item.name, item.rel, uri=uri, member=item.rel if item.in_archive else "",
                            refused=item.refused or "")
                else:
                    add(uri, PurePosixPath(uri.split("://", 1)[1]).name, uri=uri)
            continue
        for path in _local(text):
            for item in collect([path], limits):
                if item.in_archive or item.name != item.rel and item.name.endswith(":" + item.rel):
                    archive = item.name[: -len(item.rel) - 1]
                    add(item.name, item.rel, uri=os.path.abspath(archive),
                        member=item.rel if item.in_archive else "", refused=item.refused or "")
                else:
                    add(item.name, item.rel, uri=os.path.abspath(item.name), refused=item.refused or "")
        if len(sources) > limits.max_items:
            break
    if len(sources) > limits.max_items:
        raise BatchLimitError(f"more than {limits.max_items} images in one batch")
    return sources


def _read_upload(item) -> bytes | None:
    try:
        return item.read()
    except ImageLoadError:
        return None  # read again on the actor, which reports the reason


def _open_remote(uri: str) -> io.IOBase:
    filesystem, path = _filesystem(uri)
    return filesystem.open_input_file(path)


def _open_local_or_remote(uri: str) -> io.IOBase:
    return _open_remote(uri) if is_uri(uri) else open(uri, "rb")


def read_source(source: Source, limits: BatchLimits) -> bytes:
    """The bytes of one source, on whichever node runs it. Raises ImageLoadError with a reason."""
    if source.data is not None:
        return source.data
    if source.member:
        try:
            with _open_local_or_remote(source.uri) as fp, zipfile.ZipFile(fp) as zf:
                return zf.read(source.member)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            raise ImageLoadError(f"damaged archive member: {exc}") from None
    if not is_uri(source.uri):
        return read_file(Path(source.uri), limits.max_item_bytes)  # the serial batch's reasons
    return _read_remote(source.uri, limits.max_item_bytes)


def _read_remote(uri: str, limit: int) -> bytes:
    from pyarrow import fs

    try:
        filesystem, path = _filesystem(uri)
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.NotFound:
            raise ImageLoadError("no such file")
        if info.type == fs.FileType.Directory:
            raise ImageLoadError("is a folder, not an image file")
        if info.size is not None and info.size > limit:
            raise ImageLoadError(f"{info.size / 1e6:.0f} MB is over the {limit / 1e6:.0f} MB per-file limit")
        with filesystem.open_input_stream(path) as f:
            return f.read()
    except ImageLoadError:
        raise
    except PermissionError:
        raise ImageLoadError("permission denied") from None
    except OSError as exc:
        raise ImageLoadError(f"cannot read: {str(exc).splitlines()[0]}") from None
