"""Pick the service's run concurrency C and intra-op threads: removals per second of one photo for
(threads, C) settings, each in a fresh interpreter, on a pool of C + 2 threads as in a worker.

    PYTHONPATH=. .venv/bin/python benchmarks/serve_threads.py [--photo PATH] [--settings 1x1 1x2 2x1] [-n 16] [--rounds 2]

Settings run interleaved (A B C, A B C, ...) so machine load hits them alike; the load average is
printed with each line.
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
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from rembg_core import RemoveOptions, SessionConfig, remove
from rembg_core.gate import GATE
from rembg_core.pipeline import encode_result
from rembg_core.session import get_session
photo, threads, runs, n = open(sys.argv[1], "rb").read(), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
GATE.resize(runs)
cfg, opts = SessionConfig(intra_op_num_threads=threads), RemoveOptions(max_size=1600)
session = get_session(cfg)
one = lambda _=None: encode_result(remove(photo, cfg, opts, session=session))
for _ in range(2):
    one()
t0 = time.perf_counter()
with ThreadPoolExecutor(runs + 2) as ex:
    list(ex.map(one, range(n)))
wall = time.perf_counter() - t0
print(json.dumps({"threads": threads, "C": runs, "n": n, "per_second": n / wall, "peak_running": GATE.stats().peak_running}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default=str(ROOT.parent / "shared" / "peer-suite" / "fixtures" / "anime-girl-1.jpg"))
    ap.add_argument("--settings", nargs="+", default=["1x1", "1x2", "2x1"], help="THREADSxC")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(args.rounds):
        for setting in args.settings:
            threads, runs = setting.split("x")
            proc = subprocess.run([sys.executable, "-c", CHILD, args.photo, threads, runs, str(args.n)],
                                  capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
            if proc.returncode:
                print(proc.stderr, file=sys.stderr)
                return 1
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["load_avg"] = os.getloadavg()
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
