"""Batch outputs: encoding for batches, and zips written as a stream (atomically for a path)."""

from __future__ import annotations

import contextlib
import io
import os
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..atomic import atomic_writer

# zlib level for batch PNGs. Level 1 encodes a cleared 1 MP cutout in about half the time of
# imageio.encode's level 4 for files about 11 % larger; in a batch on 2 cores the encoder competes
# with inference for CPU, so the time is worth more than the bytes (docs/BENCHMARKS.md, "Batch").
BATCH_PNG_LEVEL = 1


def fresh_zip_path(folder: Path, stale_after: float) -> Path:
    """A new, unique result-zip path in `folder`; zips older than `stale_after` seconds (left by
    sessions long gone) are removed on the way."""
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("*.zip"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > stale_after:
                old.unlink()
    return folder / f"{uuid.uuid4().hex}.zip"


@contextlib.contextmanager
def zip_writer(dest: str | os.PathLike | io.IOBase) -> Iterator[Callable[[str, bytes], None]]:
    """`add(name, data)` streams results into a zip; a path is written atomically (whole or not at all).

    PNG and WebP are compressed already, so members are stored, not deflated again.
    """
    if isinstance(dest, (str, os.PathLike)):
        with atomic_writer(dest) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            yield zf.writestr
    else:
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
            yield zf.writestr
