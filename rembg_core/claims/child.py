"""The child side of the claims that need more than one inference measured:
`python -m rembg_core.claims.child --result-fd N SPEC` (spawned by probes.py through the runner).

Modes: `sessions` (shared vs per-request sessions), `stream` (a batch streamed with or without
gc.collect(), or every result kept), `pillow` (images closed or not), `cache` (two passes through
the result cache). Each writes one JSON object to the pipe `N`; a known failure exits 1 with its
one-line message as the last stderr line.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

from ..measure.child import metadata, serve
from ..measure.configs import ProbeConfig
from ..measure.sampling import RssSampler
from ..memory import MemoryFigures, peak_rss, rss

WARM = 2  # images before accumulation is judged: the memory pattern allocates on the second run


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def sessions(spec: dict) -> dict:
    """`requests` removals from `threads` threads, on one shared session or a new one each."""
    from ..options import RemoveOptions
    from ..pipeline import remove
    from ..session import load_session

    config = ProbeConfig.from_dict(spec["config"])
    data = Path(spec["image"]).read_bytes()
    shared = spec["variant"] == "shared"
    requests, threads = int(spec["requests"]), int(spec["threads"])
    sampler = RssSampler(interval=0.005, exact_peak=False).start()
    before = rss()
    t0 = time.perf_counter()
    one = load_session(config.session) if shared else None
    startup = time.perf_counter() - t0
    latencies: list[float] = []
    loads = [1 if shared else 0]
    lock = threading.Lock()

    def serve(n: int) -> None:
        for _ in range(n):
            t = time.perf_counter()
            session = one if shared else load_session(config.session)
            remove(data, session=session, options=RemoveOptions(max_size=spec.get("max_size")))
            del session
            with lock:
                latencies.append(time.perf_counter() - t)
                loads[0] += 0 if shared else 1

    workers = [threading.Thread(target=serve, args=(requests // threads + (i < requests % threads),))
               for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    after = rss()
    trace = sampler.stop()
    figures = MemoryFigures(before, max(peak_rss(), trace.peak, after), after)  # at least every reading
    return {**figures.to_dict(), "latencies": latencies,
            "startup": startup, "sessions_loaded": loads[0], "meta": metadata(config, None)}


def stream(spec: dict) -> dict:
    """The same image `items` times: `stream+gc`, `stream` (no gc) or `keep` (results held)."""
    from ..imageio import encode
    from ..options import RemoveOptions
    from ..pipeline import remove
    from ..session import load_session

    config = ProbeConfig.from_dict(spec["config"])
    data = Path(spec["image"]).read_bytes()
    variant = spec["variant"]
    session = load_session(config.session)
    before = rss()
    kept = []
    after_each: list[int] = []
    size = None
    for _ in range(int(spec["items"])):
        result = remove(data, session=session, options=RemoveOptions(max_size=spec.get("max_size")))
        size = result.image.size
        encode(result.image, "png")  # what a batch does with each result: write it out
        if variant == "keep":
            kept.append(result)
        del result
        if variant == "stream+gc":
            gc.collect()
        after_each.append(rss())
    return {"before": before, "after_each": after_each, "peak": peak_rss(), "image_size": list(size or ()),
            "item_bytes": 4 * size[0] * size[1] if size else 0, "meta": metadata(config, size)}


def pillow(spec: dict) -> dict:
    """Open, convert and drop the same file `items` times, closing it (`close`) or not (`no close`)."""
    from PIL import Image

    path = spec["image"]
    close = spec["variant"] == "close"
    before, fds_before = rss(), _open_fds()
    after_each: list[int] = []
    fds_each: list[int] = []
    size = None
    for _ in range(int(spec["items"])):
        if close:
            with Image.open(path) as im:
                rgba = im.convert("RGBA")
            small = rgba.resize((rgba.width // 2 or 1, rgba.height // 2 or 1))
            rgba.close()
            small.close()
        else:  # the references are dropped when the names are rebound; nothing is closed
            im = Image.open(path)
            rgba = im.convert("RGBA")
            small = rgba.resize((rgba.width // 2 or 1, rgba.height // 2 or 1))
        size = rgba.size
        after_each.append(rss())
        fds_each.append(_open_fds())
    return {"before": before, "fds_before": fds_before, "after_each": after_each, "fds_each": fds_each,
            "peak": peak_rss(), "item_bytes": 4 * size[0] * size[1] if size else 0,
            "meta": metadata(ProbeConfig(), size)}


def _variants(data: bytes, n: int) -> list[bytes]:
    """`n` different images from one: mirrored and rotated copies, PNG-encoded."""
    from PIL import Image, ImageOps

    base = Image.open(io.BytesIO(data)).convert("RGB")
    # six different pictures (mirror + rotate 180 would be flip again: a first-pass cache hit)
    ops = [lambda im: im, ImageOps.mirror, ImageOps.flip, lambda im: im.rotate(180),
           lambda im: im.transpose(Image.Transpose.TRANSPOSE), ImageOps.grayscale]
    out = []
    for i in range(n):
        buf = io.BytesIO()
        ops[i % len(ops)](base).convert("RGB").save(buf, "PNG", compress_level=1 + i // len(ops))
        out.append(buf.getvalue())
    return out


def cache(spec: dict) -> dict:
    """A batch of `items` images twice through a fresh ResultCache, then one re-saved copy."""
    from PIL import Image

    from ..batch.cache import ResultCache
    from ..batch.engine import run_batch
    from ..batch.inputs import BatchItem
    from ..options import RemoveOptions
    from ..session import load_session

    config = ProbeConfig.from_dict(spec["config"])
    images = _variants(Path(spec["image"]).read_bytes(), int(spec["items"]))
    buf = io.BytesIO()
    Image.open(io.BytesIO(images[0])).save(buf, "PNG", compress_level=9)
    resaved = buf.getvalue()  # the same pixels in other bytes
    session = load_session(config.session)
    options = RemoveOptions(max_size=spec.get("max_size"))

    def run(blobs: list[bytes], cache: ResultCache) -> list:
        items = [BatchItem(f"{i}.png", f"{i}.png", read=partial(bytes, b)) for i, b in enumerate(blobs)]
        return list(run_batch(items, options=options, cache=cache, session=session))

    with tempfile.TemporaryDirectory(prefix="rembg-lab-claims-cache-") as folder:
        store = ResultCache(folder)
        first, second, copy = run(images, store), run(images, store), run([resaved], store)
    return {
        "first_seconds": [r.seconds for r in first], "first_hits": sum(r.cached for r in first),
        "second_seconds": [r.seconds for r in second], "second_hits": sum(r.cached for r in second),
        "errors": [r.error for r in first + second if r.error], "resaved_hit": bool(copy[0].cached),
        "items": len(images), "meta": metadata(config, None),
    }


MODES = {"sessions": sessions, "stream": stream, "pillow": pillow, "cache": cache}


def main(argv: list[str] | None = None) -> int:
    return serve(MODES, "rembg_core.claims.child", argv)


if __name__ == "__main__":
    sys.exit(main())
