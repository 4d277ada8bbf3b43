"""Peak RSS of 8 simultaneous removals on one shared session, by run-slot capacity.

    PYTHONPATH=. python benchmarks/concurrent_runs.py [--threads 8] [--capacities 1,2,8]

Each capacity runs in a fresh interpreter (REMBG_LAB_MAX_CONCURRENT_RUNS set in its environment);
the child reports RSS after one warm-up per thread count, its peak (VmHWM) and the wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import io, json, sys, threading, time
from PIL import Image, ImageDraw
from rembg_core import SessionConfig, remove
from rembg_core.memory import MB, peak_rss, reset_peak, rss
from rembg_core.gate import GATE as run_slots
n = int(sys.argv[1])
im = Image.new("RGB", (1200, 900), (230, 230, 230)); ImageDraw.Draw(im).ellipse((300, 200, 900, 700), fill=(200, 30, 30))
buf = io.BytesIO(); im.save(buf, "JPEG"); data = buf.getvalue()
cfg = SessionConfig()
for _ in range(2):
    remove(data, cfg)  # warm-ups: the memory pattern allocates on the second run
warm = rss()
reset_peak()  # VmHWM: the peak from here on
barrier = threading.Barrier(n)
queued = []
def work():
    barrier.wait()
    queued.append(remove(data, cfg).timings["queue"])
t0 = time.perf_counter()
ts = [threading.Thread(target=work) for _ in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
wall = time.perf_counter() - t0
hwm = peak_rss()
print(json.dumps({"capacity": run_slots.capacity, "rss_warm_mb": warm / MB, "peak_mb": hwm / MB,
                  "after_mb": rss() / MB, "wall_s": wall, "max_queue_s": max(queued),
                  "peak_running": run_slots.stats().peak_running}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--capacities", default="1,2,8")
    args = ap.parse_args()
    for cap in args.capacities.split(","):
        env = dict(os.environ, PYTHONPATH=str(ROOT), REMBG_LAB_MAX_CONCURRENT_RUNS=cap)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(args.threads)], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=600)
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return 1
        print(proc.stdout.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
