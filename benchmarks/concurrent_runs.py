"""Peak RSS of 8 simultaneous removals on one shared session, by run-slot capacity.

    PYTHONPATH=. python benchmarks/concurrent_runs.py [--threads 8] [--capacities 1,2,8]

Each capacity runs in a fresh interpreter (REMBG_LAB_MAX_CONCURRENT_RUNS set in its environment), as a
mode of the library's child runner: `python -m benchmarks.concurrent_runs --result-fd N SPEC`, its
record on the pipe. The child reports RSS after one warm-up per thread count, its peak (VmHWM, reset
after the warm-ups) and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(spec: dict) -> dict:
    import io
    import threading
    import time

    from PIL import Image, ImageDraw

    from rembg_core import SessionConfig, remove
    from rembg_core.gate import GATE
    from rembg_core.memory import MB, peak_rss, reset_peak, rss

    n = int(spec["threads"])
    im = Image.new("RGB", (1200, 900), (230, 230, 230))
    ImageDraw.Draw(im).ellipse((300, 200, 900, 700), fill=(200, 30, 30))
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    data = buf.getvalue()
    cfg = SessionConfig()
    for _ in range(2):
        remove(data, cfg)  # warm-ups: the memory pattern allocates on the second run
    warm = rss()
    reset_peak()  # VmHWM: the peak from here on
    barrier = threading.Barrier(n)
    queued: list[float] = []

    def work() -> None:
        barrier.wait()
        queued.append(remove(data, cfg).timings["queue"])

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"capacity": GATE.capacity, "rss_warm_mb": warm / MB, "peak_mb": peak_rss() / MB,
            "after_mb": rss() / MB, "wall_s": wall, "max_queue_s": max(queued),
            "peak_running": GATE.stats().peak_running}


def main() -> int:
    from rembg_core.measure.configs import ProbeConfig
    from rembg_core.measure.runner import spawn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--capacities", default="1,2,8")
    args = ap.parse_args()
    for cap in args.capacities.split(","):
        out = spawn({"mode": "run", "threads": args.threads}, ProbeConfig(), timeout=600,
                    module="benchmarks.concurrent_runs", env={"REMBG_LAB_MAX_CONCURRENT_RUNS": cap})
        if out.payload is None:
            print(f"error: capacity {cap}: {out.reason}", file=sys.stderr)
            return 1
        print(json.dumps(out.payload))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--result-fd"]:  # spawned by main() through the child runner
        from rembg_core.measure.child import serve

        sys.exit(serve({"run": measure}, "benchmarks.concurrent_runs", sys.argv[1:]))
    sys.exit(main())
