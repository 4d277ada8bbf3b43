"""Batch removal with bounded memory.

Inputs — paths, folders, uploaded (name, bytes) pairs, zip archives — become a list of
`BatchItem`s (a name and a way to read the bytes, nothing decoded yet). `run_batch` turns them
into one `ItemResult` per item, in input order: the encoded output, or a one-line reason.
A bad item never stops the batch.

Memory stays bounded because at most `BatchLimits.max_in_flight` items exist between "bytes
read" and "result handed to the caller": a semaphore is taken before an item is read and
given back only when its result is yielded, and every stage drops its images before passing
the item on. Results carry encoded bytes only, so a caller that writes them out and lets go
(the CLI, `zip_writer`) holds nothing per image.

Serial mode (the default) does all of it in the caller's loop. Pipelined mode overlaps the
work in three threads — read+decode, inference, encode. Measured on 2 cores (docs/BENCHMARKS.md,
"Batch"): with ONNX Runtime's default spin-waiting the two are equally fast and serial holds one
image instead of three; with spinning off, pipelined is about 10 % faster.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import threading
import time
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Sequence, Union

from PIL import Image

from . import compose, models
from .atomic import atomic_writer
from .cache import ResultCache
from .errors import ImageLoadError, RembgCoreError
from .imageio import DEFAULT_MAX_PIXELS, LoadedImage, encode, load_image
from .limits import LIMITS
from .memory import rss
from .pipeline import remove
from .session import ModelSession, SessionConfig, get_session

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif",
                            ".ppm", ".tga", ".ico"})
ARCHIVE_SUFFIXES = frozenset({".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".jar"})
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BZh", b"\xfd7zXZ")
_DRIVE = re.compile(r"^[A-Za-z]:")

# (name, bytes) or (name, a callable returning the bytes), e.g. a Streamlit upload's getvalue
Upload = tuple[str, Union[bytes, Callable[[], bytes]]]
BatchInput = Union[str, os.PathLike, Upload]


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
class RemoveOptions:
    """What decides an output image; with the input bytes and the model, the cache key."""

    max_size: int | None = None
    only_mask: bool = False
    post_process_mask: bool = False
    bgcolor: compose.Color | None = None
    crop: bool = False
    format: str = "png"

    def __post_init__(self) -> None:
        if self.format not in ("png", "webp"):
            raise ValueError("format must be png or webp")


@dataclass(frozen=True)
class BatchItem:
    """One input, not read yet."""

    name: str  # as the user knows it: a path, an upload's name, or "archive.zip:member.png"
    rel: str  # relative path the output is named after ("a.jpg", "sub/b.png")
    read: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)
    refused: str | None = None  # known bad before reading (unsafe zip entry, nested archive...)
    in_archive: bool = False


@dataclass(frozen=True)
class ItemResult:
    index: int
    name: str
    output_name: str | None  # relative, unique within the batch; None when refused
    data: bytes | None = field(repr=False)  # the encoded output
    error: str | None = None
    cached: bool = False
    seconds: float = 0.0  # work on this item (read, decode, inference, encode), without queue waits
    rss: int = 0  # process RSS when the result was handed over
    size: tuple[int, int] | None = None  # output image (w, h)
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None


# progress(done, total, result)
Progress = Callable[[int, int, ItemResult], None]


class Gauge:
    """A thread-safe count with its peak: how many decoded images are alive right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def inc(self) -> None:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def dec(self) -> None:
        with self._lock:
            self.current -= 1

    def track(self, obj: object) -> None:
        """Count `obj` until the interpreter actually frees it."""
        self.inc()
        weakref.finalize(obj, self.dec)


# --- inputs ---------------------------------------------------------------------

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
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
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
        if reason := unsafe_member_name(info.filename):
            items.append(BatchItem(label, info.filename, refused=reason))
            continue
        if _skipped_member(info.filename):
            continue
        suffix = PurePosixPath(info.filename).suffix.lower()
        if suffix in ARCHIVE_SUFFIXES:
            items.append(BatchItem(label, info.filename, refused="nested archive (archives inside archives are not opened)"))
        elif suffix not in IMAGE_SUFFIXES:
            continue
        elif info.flag_bits & 0x1:
            items.append(BatchItem(label, info.filename, refused="encrypted archive member"))
        elif info.file_size > limits.max_item_bytes:
            items.append(BatchItem(label, info.filename, refused=f"{info.file_size / 1e6:.0f} MB is over the "
                                                                 f"{limits.max_item_bytes / 1e6:.0f} MB per-file limit"))
        else:
            items.append(BatchItem(label, info.filename, read=lambda i=info: archive.read(i), in_archive=True))
    return items


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
            read = data if callable(data) else (lambda d=data: bytes(d))
            if _is_zip_name(up_name):
                items += items_from_zip(up_name, lambda r=read: io.BytesIO(r()), limits)
            else:
                items.append(BatchItem(up_name, PurePosixPath(up_name.replace("\\", "/")).name, read=read))
            continue
        path = Path(entry)
        if path.is_dir():
            for p in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                            and not p.name.startswith(".")):
                items.append(BatchItem(str(p), p.name, read=lambda p=p: _read_file(p, limits.max_item_bytes)))
        elif _is_zip_name(path.name) and path.is_file():
            items += items_from_zip(str(entry), lambda p=path: open(p, "rb"), limits)
        else:
            items.append(BatchItem(str(entry), path.name, read=lambda p=path: _read_file(p, limits.max_item_bytes)))
        if len(items) > limits.max_items:
            break
    if len(items) > limits.max_items:
        raise BatchLimitError(f"more than {limits.max_items} images in one batch")
    return items


# --- processing -----------------------------------------------------------------

@dataclass
class _Work:
    """One item on its way through the stages. Mutable, owned by one stage at a time."""

    index: int
    item: BatchItem
    seconds: float = 0.0
    key: str | None = None
    loaded: LoadedImage | None = None
    image: object = None  # the RemovalResult's image (PIL), until encoded
    icc: bytes | None = None  # the input's colour profile, carried into the output as remove's CLI does
    data: bytes | None = None
    size: tuple[int, int] | None = None
    cached: bool = False
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


# zlib level for batch PNGs. Level 1 encodes a cleared 1 MP cutout in about half the time of
# imageio.encode's level 4 for files about 11 % larger; in a batch on 2 cores the encoder competes
# with inference for CPU, so the time is worth more than the bytes (docs/BENCHMARKS.md, "Batch").
BATCH_PNG_LEVEL = 1


def encode_output(image: Image.Image, fmt: str, icc: bytes | None = None) -> bytes:
    if fmt != "png":
        return encode(image, fmt, icc)
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=BATCH_PNG_LEVEL, **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RembgCoreError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"unexpected {type(exc).__name__}: {exc}".splitlines()[0]


class _Engine:
    """The three stages, callable in one loop or from three threads."""

    def __init__(self, session: ModelSession, options: RemoveOptions, cache: ResultCache | None,
                 limits: BatchLimits, gauge: Gauge | None) -> None:
        self.session = session
        self.model_checksum = models.expected_checksum(self.session.spec)  # verify() checked the file
        self.options = options
        self.cache = cache
        self.limits = limits
        self.gauge = gauge

    def prepare(self, w: _Work) -> _Work:
        """Read the bytes; answer from the cache, or decode."""
        if w.item.refused:
            w.error = w.item.refused
            return w
        t0 = time.perf_counter()
        try:
            data = w.item.read()
            if len(data) > self.limits.max_item_bytes:
                raise ImageLoadError(f"{len(data) / 1e6:.0f} MB is over the {self.limits.max_item_bytes / 1e6:.0f} MB per-file limit")
            if w.item.in_archive and data.startswith(_ARCHIVE_MAGIC):
                raise NestedArchiveError("nested archive (archives inside archives are not opened)")
            if self.cache is not None:
                w.key = self.cache.key(data, self.options, self.model_checksum)
                hit = self.cache.get(w.key)
                if hit is not None:
                    w.data, w.cached = hit.data, True
                    size = hit.meta.get("size")
                    w.size = tuple(size) if size else None
                    return w
            w.loaded = load_image(data, max_size=self.options.max_size, max_pixels=self.limits.max_pixels)
            if self.gauge is not None:
                self.gauge.track(w.loaded.rgb)
        except Exception as exc:  # one bad input must not stop the others
            w.error = _reason(exc)
        finally:
            w.timings["read+decode"] = time.perf_counter() - t0
            w.seconds += w.timings["read+decode"]
        return w

    def infer(self, w: _Work) -> _Work:
        if w.loaded is None:
            return w
        t0 = time.perf_counter()
        try:
            o = self.options
            result = remove(w.loaded, session=self.session, only_mask=o.only_mask,
                            post_process_mask=o.post_process_mask, bgcolor=o.bgcolor, crop=o.crop)
            w.image, w.icc = result.image, w.loaded.icc_profile
            w.timings.update({k: v for k, v in result.timings.items() if k in ("preprocess", "inference", "postprocess", "compose")})
            del result
        except Exception as exc:
            w.error = _reason(exc)
        finally:
            w.loaded = None  # the decoded input is not needed any more
            w.seconds += time.perf_counter() - t0
        return w

    def finish(self, w: _Work) -> _Work:
        if w.image is None:
            return w
        t0 = time.perf_counter()
        try:
            w.size = w.image.size
            w.data = encode_output(w.image, self.options.format, w.icc)
            w.image = None
            if self.cache is not None and w.key is not None:
                self.cache.put(w.key, w.data, {"size": list(w.size), "format": self.options.format})
        except Exception as exc:
            w.error = _reason(exc)
        finally:
            w.image = None
            w.timings["encode"] = time.perf_counter() - t0
            w.seconds += w.timings["encode"]
        return w


class _OutputNames:
    """Relative output names, unique within the batch (case-insensitively: macOS, Windows)."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.used: set[str] = set()

    def __call__(self, rel: str) -> str:
        base = PurePosixPath(rel.replace("\\", "/"))
        stem, parent = base.stem or "image", base.parent
        candidate = str(parent / f"{stem}.{self.fmt}")
        n = 1
        while candidate.casefold() in self.used:
            n += 1
            candidate = str(parent / f"{stem}-{n}.{self.fmt}")
        self.used.add(candidate.casefold())
        return candidate


_DONE = object()


def run_batch(items: Sequence[BatchItem], config: SessionConfig | None = None,
              options: RemoveOptions = RemoveOptions(), *, cache: ResultCache | None = None,
              limits: BatchLimits = BatchLimits(), progress: Progress | None = None,
              pipelined: bool = False, gauge: Gauge | None = None,
              session: ModelSession | None = None) -> Iterator[ItemResult]:
    """One ItemResult per item, in order. Raises only ModelError (before the first result).

    `session` is an already loaded one (the dashboard's shared session); by default the
    library's session cache provides it for `config`. Close the generator (or exhaust it) to
    stop its threads: `with contextlib.closing(run_batch(...)) as results:`.
    """
    session = session or get_session(config or SessionConfig())  # ModelError: before any item
    engine = _Engine(session, options, cache, limits, gauge)
    names = _OutputNames(options.format)
    total = len(items)
    works = (_Work(i, item) for i, item in enumerate(items))
    stream = _pipelined(engine, works, limits.max_in_flight) if pipelined else _serial(engine, works)
    try:
        for done, w in enumerate(stream, 1):
            result = ItemResult(
                index=w.index, name=w.item.name, output_name=names(w.item.rel) if w.error is None else None,
                data=w.data if w.error is None else None, error=w.error, cached=w.cached, seconds=w.seconds,
                rss=rss(), size=w.size, timings=w.timings,
            )
            del w
            if progress is not None:
                progress(done, total, result)
            yield result
    finally:
        stream.close()


def _serial(engine: _Engine, works: Iterator[_Work]) -> Iterator[_Work]:
    for w in works:
        yield engine.finish(engine.infer(engine.prepare(w)))


def _pipelined(engine: _Engine, works: Iterator[_Work], max_in_flight: int) -> Iterator[_Work]:
    """Read+decode, inference and encode each in its own thread, FIFO queues between them.

    `slots` is taken before an item is read and returned once the caller has it, so at most
    `max_in_flight` items (and their images) exist at once, however slow the caller.
    """
    stop = threading.Event()
    slots = threading.Semaphore(max_in_flight)
    decoded: queue.Queue = queue.Queue()
    inferred: queue.Queue = queue.Queue()
    finished: queue.Queue = queue.Queue()

    def put(q: queue.Queue, x: object) -> None:
        q.put(x)  # unbounded: the semaphore is the bound

    def get(q: queue.Queue) -> object:
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _DONE

    failures: list[BaseException] = []

    def guarded(body: Callable[[], None], downstream: queue.Queue) -> Callable[[], None]:
        # Per-item errors never get here (the stages catch them); this is for bugs, so that
        # the caller sees an exception instead of waiting forever.
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                failures.append(exc)
                stop.set()
                downstream.put(_DONE)
        return run

    def loader() -> None:
        for w in works:
            while not slots.acquire(timeout=0.1):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            put(decoded, engine.prepare(w))
            del w
        put(decoded, _DONE)

    def stage(fn: Callable[[_Work], _Work], src: queue.Queue, dst: queue.Queue) -> Callable[[], None]:
        def loop() -> None:
            while (w := get(src)) is not _DONE:
                put(dst, fn(w))
                del w  # drop this item's images now, not when the next item arrives
            put(dst, _DONE)
        return loop

    threads = [
        threading.Thread(target=guarded(loader, decoded), name="batch-load", daemon=True),
        threading.Thread(target=guarded(stage(engine.infer, decoded, inferred), inferred), name="batch-infer",
                         daemon=True),
        threading.Thread(target=guarded(stage(engine.finish, inferred, finished), finished), name="batch-encode",
                         daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        while (w := get(finished)) is not _DONE:
            slots.release()
            yield w
            del w
        if failures:
            raise RuntimeError(f"batch engine failed: {failures[0]!r}") from failures[0]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)


# --- outputs --------------------------------------------------------------------

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


def rss_drift(rss_values: Sequence[int], warmup: int = 5, window: int = 10) -> float | None:
    """Relative RSS growth over a batch after warm-up: median of the last `window` values over
    the median of the first `window` after `warmup`, minus 1. Near 0 means no leak; None when
    the batch is too short to tell."""
    values = list(rss_values)[warmup:]
    if len(values) < 2 * min(window, 2):
        return None
    window = min(window, len(values) // 2)
    first = sorted(values[:window])[window // 2]
    last = sorted(values[-window:])[window // 2]
    return last / first - 1.0 if first else None


# Public names for other engines over the same per-item work (rembg_core.distributed runs the
# engine inside Ray actors and names outputs on its driver, exactly as run_batch does).
Engine = _Engine
Work = _Work
OutputNames = _OutputNames
failure_reason = _reason
read_file = _read_file
