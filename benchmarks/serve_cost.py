"""Fit the service's per-request memory cost: peak RSS growth of the server against megapixels.

    PYTHONPATH=. .venv/bin/python benchmarks/serve_cost.py [--sizes 2 8 16] [--burst 6]

For each size a fresh server (1 worker, C=1, 5 pipeline threads, no budget limit in effect) is warmed
with a burst of small photos (so the arena has grown for concurrent runs), then gets one request of
that size and then a burst of `--burst` at once; the process tree's RSS is sampled every 50 ms.
Growth is the peak minus the warm RSS. Prints one JSON line per size and the least-squares line
growth_mb = a + b × MP over the single requests, and b over the bursts (per request), which
rembg_core/server/config.py's cost model is set from.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rembg_core.load.tree import TreeSampler, measure  # noqa: E402
from rembg_core.server.process import ServerProcess  # noqa: E402

MB = 1024 * 1024


def photo(mp: float) -> bytes:
    """A noisy gradient JPEG of `mp` megapixels (3:2), so decode and encode do real work."""
    w = int((mp * 1e6 * 1.5) ** 0.5)
    h = int(mp * 1e6 / w)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], -1).astype(np.int16)
    a += np.random.default_rng(0).integers(-12, 12, a.shape, dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def cell(mp: float, burst: int) -> dict:
    big, small = photo(mp), photo(0.3)
    args = ["--workers", "1", "--max-inflight", "1", "--pipeline-threads", str(max(1, burst - 1)),
            "--max-size", "8000", "--memory-budget-mb", "100000", "--max-queue", "32"]
    with ServerProcess(args) as server:
        def post(data: bytes) -> int:
            return requests.post(server.url + "/api/remove", data=data, headers={"Content-Type": "image/jpeg"},
                                 timeout=600).status_code

        with ThreadPoolExecutor(burst) as ex:
            list(ex.map(lambda _: post(small), range(burst)))
        time.sleep(1)
        base = measure(server.pid, full=False).rss
        with TreeSampler(server.pid, interval=0.05, full=False) as sampler:
            one = post(big)
            peak_one = sampler.peak_rss()
            time.sleep(0.5)
            with ThreadPoolExecutor(burst) as ex:
                codes = list(ex.map(lambda _: post(big), range(burst)))
            peak_burst = sampler.peak_rss()
    return {"mp": mp, "burst": burst, "warm_mb": base / MB, "one_growth_mb": (peak_one - base) / MB,
            "burst_growth_mb": (peak_burst - base) / MB, "statuses": sorted({one, *codes})}


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[2.0, 8.0, 16.0])
    ap.add_argument("--burst", type=int, default=6)
    args = ap.parse_args()
    rows = []
    for mp in args.sizes:
        rows.append(cell(mp, args.burst))
        print(json.dumps(rows[-1]), flush=True)
    a, b = fit([r["mp"] for r in rows], [r["one_growth_mb"] for r in rows])
    per = [r["burst_growth_mb"] / r["burst"] / r["mp"] for r in rows]
    print(json.dumps({"single": f"growth_mb = {a:.1f} + {b:.1f} × MP", "burst_mb_per_mp_per_request": per,
                      "load_avg": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
