"""The batch engine: `run_batch` turns items into one `ItemResult` each, in input order.

Memory stays bounded because at most `BatchLimits.max_in_flight` items exist between "bytes
read" and "result handed to the caller": a semaphore is taken before an item is read and
given back only when its result is yielded, and every stage drops its images before passing
the item on. Results carry encoded bytes only, so a caller that writes them out and lets go
(the CLI, `zip_writer`) holds nothing per image. A bad item never stops the batch.

Serial mode (the default) does all of it in the caller's loop. Pipelined mode overlaps the
work in three threads — read+decode, inference, encode. Measured on 2 cores (docs/BENCHMARKS.md,
"Batch"): with ONNX Runtime's default spin-waiting the two are equally fast and serial holds one
image instead of three; with spinning off, pipelined is about 10 % faster.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import models
from ..errors import ImageLoadError, RembgCoreError
from ..imageio import LoadedImage, load_image
from ..memory import rss
from ..naming import OutputNames
from ..options import RemoveOptions
from ..pipeline import RemovalResult, encode_result, remove
from ..session import ModelSession, SessionConfig, get_session
from .cache import ResultCache
from .inputs import ARCHIVE_MAGIC, BatchItem, BatchLimits, NestedArchiveError
from .outputs import BATCH_PNG_LEVEL


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

    @property
    def status(self) -> str:
        """"ok", "cache hit" or "error": what a status table shows."""
        return "error" if not self.ok else "cache hit" if self.cached else "ok"


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


@dataclass
class _Work:
    """One item on its way through the stages. Mutable, owned by one stage at a time."""

    index: int
    item: BatchItem
    seconds: float = 0.0
    key: str | None = None
    loaded: LoadedImage | None = None
    result: RemovalResult | None = None  # until encoded
    data: bytes | None = None
    size: tuple[int, int] | None = None
    cached: bool = False
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


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
            assert w.item.read is not None  # only refused items have no reader
            data = w.item.read()
            if len(data) > self.limits.max_item_bytes:
                raise ImageLoadError(f"{len(data) / 1e6:.0f} MB is over the {self.limits.max_item_bytes / 1e6:.0f} MB per-file limit")
            if w.item.in_archive and data.startswith(ARCHIVE_MAGIC):
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
            w.result = remove(w.loaded, session=self.session, options=self.options)
            w.timings.update({k: v for k, v in w.result.timings.items()
                              if k in ("preprocess", "inference", "postprocess", "compose")})
        except Exception as exc:
            w.error = _reason(exc)
        finally:
            w.loaded = None  # the decoded input is not needed any more
            w.seconds += time.perf_counter() - t0
        return w

    def finish(self, w: _Work) -> _Work:
        if w.result is None:
            return w
        t0 = time.perf_counter()
        try:
            w.size = w.result.image.size
            w.data = encode_result(w.result, png_level=BATCH_PNG_LEVEL)
            w.result = None
            if self.cache is not None and w.key is not None:
                self.cache.put(w.key, w.data, {"size": list(w.size), "format": self.options.format})
        except Exception as exc:
            w.error = _reason(exc)
        finally:
            w.result = None
            w.timings["encode"] = time.perf_counter() - t0
            w.seconds += w.timings["encode"]
        return w


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
    names = OutputNames(options.format)
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


def _serial(engine: _Engine, works: Iterator[_Work]) -> Generator[_Work, None, None]:
    for w in works:
        yield engine.finish(engine.infer(engine.prepare(w)))


def _pipelined(engine: _Engine, works: Iterator[_Work], max_in_flight: int) -> Generator[_Work, None, None]:
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

    def get(q: queue.Queue) -> Any:
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
            t.join()  # each stage checks `stop` between items, so this waits for one item at most


# Public names for other engines over the same per-item work (rembg_core.distributed runs the
# engine inside Ray actors and names outputs on its driver, exactly as run_batch does).
Engine = _Engine
Work = _Work
failure_reason = _reason
