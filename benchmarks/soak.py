"""Soak: many removals of varied images in one process; does anything leak?

    PYTHONPATH=. python benchmarks/soak.py [--count 300] [--warmup 30] [--json OUT] [session flags]

Default configuration — the one the project recommends for a long-running server: arena off,
memory pattern off (the flattest RSS in DESIGN.md's table), inputs capped at 1600 px, and
`memory.trim()` (gc + malloc_trim) after every 12 images ("stream batches with gc").
The drift checked is of *retained* memory: RSS right after each trim, median of the last tenth
vs the first tenth after warm-up. Raw RSS after every image is recorded too (`samples_mb`;
`--trim-every 0` checks raw RSS instead, in whole cycles of the image sizes): glibc keeps freed
heap pages, so raw RSS swings ±20 % from one cycle to the next without growing.
It also checks: no temporary files left (the run uses a private TMPDIR), and open file
descriptors and threads back to their post-warm-up counts. Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rembg_core import RemoveOptions, SessionConfig, encode, remove  # noqa: E402
from rembg_core.atomic import atomic_write_bytes  # noqa: E402
from rembg_core.cli.common import add_session_flags, session_config  # noqa: E402
from rembg_core.measure import machine  # noqa: E402
from rembg_core.memory import MB, rss, trim  # noqa: E402

RECOMMENDED = SessionConfig(enable_cpu_mem_arena=False, enable_mem_pattern=False)
SIZES = [(320, 240), (1024, 768), (640, 960), (2000, 1500), (96, 96), (3000, 2000), (1600, 1200), (480, 2400),
         (850, 601), (1280, 720), (200, 3000), (2400, 2400)]


def varied_image(i: int) -> tuple[bytes, str]:
    """Image number i: size, shape, format and mode vary; content is a few coloured shapes."""
    rng = np.random.default_rng(i)
    w, h = SIZES[i % len(SIZES)]
    im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(150, 255, 3)))
    d = ImageDraw.Draw(im)
    for _ in range(3):
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        d.ellipse((x0, y0, x0 + w // 3, y0 + h // 3), fill=tuple(int(v) for v in rng.integers(0, 200, 3)))
    kind = i % 4
    buf = io.BytesIO()
    if kind == 0:
        im.save(buf, "JPEG", quality=88)
    elif kind == 1:
        im.save(buf, "PNG", compress_level=1)
    elif kind == 2:
        rgba = im.convert("RGBA")
        rgba.putalpha(Image.linear_gradient("L").resize((w, h)))
        rgba.save(buf, "PNG", compress_level=1)
    else:
        im.save(buf, "WEBP", quality=85)
    return buf.getvalue(), ("jpeg", "png", "rgba-png", "webp")[kind]


@dataclass(frozen=True)
class SoakResult:
    count: int
    warmup: int
    config: str
    max_size: int | None
    rss_start_mb: float  # before the first removal (session not loaded yet)
    rss_warm_mb: float  # median of the first tenth after warm-up (at least one cycle of sizes)
    rss_end_mb: float  # median of the last tenth (idem)
    rss_peak_mb: float  # highest sample after each removal
    drift: float  # (end − warm) / warm
    fds_warm: int
    fds_end: int
    threads_warm: int  # OS threads of the process (ORT's pool included)
    threads_end: int
    py_threads_warm: int
    py_threads_end: int
    temp_left: list[str]
    seconds: float
    per_image_median_s: float
    refused: int
    trim_every: int  # 0 = never; else memory.trim() (gc + malloc_trim) after every N images
    samples_mb: list[float]  # RSS after each removal

    def failures(self, max_drift: float) -> list[str]:
        out = []
        if self.drift > max_drift:
            out.append(f"RSS drift {self.drift:.1%} > {max_drift:.0%}")
        if self.fds_end > self.fds_warm:
            out.append(f"file descriptors {self.fds_warm} -> {self.fds_end}")
        if self.threads_end > self.threads_warm or self.py_threads_end > self.py_threads_warm:
            out.append(f"threads {self.threads_warm}/{self.py_threads_warm} -> {self.threads_end}/{self.py_threads_end}")
        if self.temp_left:
            out.append(f"temporary files left: {self.temp_left[:5]}")
        if self.refused:
            out.append(f"{self.refused} images refused")
        return out


def run_soak(count: int = 300, warmup: int = 30, config: SessionConfig = RECOMMENDED, max_size: int | None = 1600,
             out_dir: Path | None = None, trim_every: int = 12) -> SoakResult:
    proc = psutil.Process()
    tmp = Path(tempfile.mkdtemp(prefix="rembg-lab-soak-"))
    private_tmp = tmp / "tmp"
    private_tmp.mkdir()
    out_dir = out_dir or tmp / "out"
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = str(private_tmp), str(private_tmp)
    samples: list[int] = []
    per_image: list[float] = []
    refused = 0
    rss_start = rss()
    t_start = time.perf_counter()
    fds_warm = threads_warm = py_threads_warm = 0
    try:
        for i in range(count):
            data, kind = varied_image(i)
            t0 = time.perf_counter()
            try:
                result = remove(data, config, options=RemoveOptions(max_size=max_size))
                atomic_write_bytes(out_dir / f"{i % 20:02d}.png", encode(result.image, "png"))
            except Exception as exc:  # counted and reported: a soak must not stop on one image
                refused += 1
                print(f"image {i} ({kind}): {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            finally:
                data = result = None  # noqa: F841 — nothing of this image outlives the iteration
            per_image.append(time.perf_counter() - t0)
            if trim_every and (i + 1) % trim_every == 0:
                trim()
            samples.append(rss())
            if i + 1 == warmup:
                fds_warm, threads_warm, py_threads_warm = proc.num_fds(), proc.num_threads(), threading.active_count()
        fds_end, threads_end, py_threads_end = proc.num_fds(), proc.num_threads(), threading.active_count()
        temp_left = sorted(str(p.relative_to(private_tmp)) for p in private_tmp.rglob("*"))
        temp_left += sorted(p.name for p in out_dir.iterdir() if p.name.endswith(".part"))
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(tmp, ignore_errors=True)
    if trim_every:
        # retained memory: RSS right after gc + malloc_trim, once per trim_every images
        after = [rss_ for i, rss_ in enumerate(samples) if i >= warmup and (i + 1) % trim_every == 0]
        window = max(3, len(after) // 10)
    else:
        # raw RSS, in windows of whole cycles of SIZES: RSS after an image depends on its size
        after = samples[warmup:]
        window = max(len(SIZES), (len(after) // 10) // len(SIZES) * len(SIZES))
    warm, end = statistics.median(after[:window]), statistics.median(after[-window:])
    return SoakResult(
        count, warmup, config.label(), max_size, rss_start / MB, warm / MB, end / MB, max(samples) / MB,
        (end - warm) / warm, fds_warm, fds_end, threads_warm, threads_end, py_threads_warm, py_threads_end,
        temp_left, time.perf_counter() - t_start, statistics.median(per_image), refused, trim_every,
        [round(x / MB, 1) for x in samples],
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--max-size", type=int, default=1600, help="0 = no cap")
    ap.add_argument("--max-drift", type=float, default=0.05)
    ap.add_argument("--trim-every", type=int, default=12, help="memory.trim() after every N images (0 = never: raw RSS)")
    ap.add_argument("--json", help="write the result here")
    add_session_flags(ap)
    ap.set_defaults(arena=False, mem_pattern=False)
    args = ap.parse_args()
    result = run_soak(args.count, args.warmup, session_config(args), args.max_size or None,
                      trim_every=args.trim_every)
    record = asdict(result) | {"machine": machine.summary(), "load_avg": machine.loadavg(), "max_drift": args.max_drift,
                               "failures": result.failures(args.max_drift)}
    print(json.dumps({k: v for k, v in record.items() if k != "samples_mb"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 1 if record["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
