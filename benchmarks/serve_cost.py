"""Fit the service's per-request memory cost: peak RSS growth of one removal against megapixels.

    PYTHONPATH=. .venv/bin/python benchmarks/serve_cost.py [--sizes 0.25 0.5 1 2 2.56] [--threads 1]

Each size runs in a fresh interpreter: the session is warmed twice on a 0.3 MP photo (the memory
pattern allocates on the second run), the peak is reset, then one removal + PNG encode runs at the
size (the first time the arena sees it: the costly case) and a second one (arena already grown).
Growth is VmHWM minus RSS before the run. Prints one JSON line per size, then the least-squares
line growth_mb = a + b × MP over the first runs, which the service's cost model uses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import io, json, sys
import numpy as np
from PIL import Image
from rembg_core import RemoveOptions, SessionConfig, remove
from rembg_core.memory import MB, read_hwm, reset_peak, rss
from rembg_core.pipeline import encode_result
mp, threads, opts = float(sys.argv[1]), int(sys.argv[2]), RemoveOptions.from_dict(json.loads(sys.argv[3]))
def photo(mp):
    w = int((mp * 1e6 * 1.5) ** 0.5); h = int(mp * 1e6 / w)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 127 // (w + h))], -1).astype(np.int16)
    a += rng.integers(-12, 12, a.shape, dtype=np.int16)
    buf = io.BytesIO(); Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()
cfg = SessionConfig(intra_op_num_threads=threads)
small, big = photo(0.3), photo(mp)
for _ in range(2):
    encode_result(remove(small, cfg, opts))
out = {"mp": mp}
for name in ("first", "second"):
    before = rss(); reset_peak()
    encode_result(remove(big, cfg, opts, max_pixels=None))
    out[name + "_growth_mb"] = (read_hwm() - before) / MB
out["after_mb"] = rss() / MB
print(json.dumps(out))
"""


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0, 2.56])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--options", default="{}", help="RemoveOptions as JSON, e.g. '{\"decontaminate\": true}'")
    args = ap.parse_args()
    rows = []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for mp in args.sizes:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(mp), str(args.threads), args.options],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    a, b = fit([r["mp"] for r in rows], [r["first_growth_mb"] for r in rows])
    print(json.dumps({"fit": "first_growth_mb = a + b * MP", "a": round(a, 1), "b": round(b, 1),
                      "load_avg": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
