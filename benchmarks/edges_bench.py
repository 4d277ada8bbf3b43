"""Edge modes, time and peak memory: rembg_core's `matting` and `decontaminate` against rembg 2.0.86's
`-a` and `-dc` (and both plain cutouts), at 4 MP and 12 MP, each call in a fresh process.

    .venv/bin/python benchmarks/edges_bench.py [--sizes 4 12] [--rounds 3] [--timeout 600] [--json OUT]

Input: scikit-image's astronaut photo upscaled (bicubic) to each size and saved as JPEG q90, so both
sides decode the same bytes. Each child loads its u2netp session (the same file, ORT's default
options), warms up twice on a 320×320 image (ORT plans its memory pattern on the first run and
allocates it on the second), resets the kernel's RSS high-water mark, then times one call on the
photo: bytes in → PNG bytes out. Peak growth = high-water mark − RSS just before the call; time is
wall time and CPU time (all threads of the process: on a loaded machine the steadier figure).
Configurations run in interleaved rounds (A B C …, A B C …) so load hits all alike; a call that
exceeds --timeout is killed and reported as such, never as a figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODES = {  # name → (side, options)
    "ours plain": ("ours", {}),
    "ours decontaminate": ("ours", {"decontaminate": True}),
    "ours matting": ("ours", {"alpha_matting": True}),
    "rembg plain": ("rembg", {}),
    "rembg -dc": ("rembg", {"decontaminate": True}),
    "rembg -a": ("rembg", {"alpha_matting": True}),
}
PAIRS = (("ours matting", "rembg -a"), ("ours decontaminate", "rembg -dc"), ("ours plain", "rembg plain"))


def child(side: str, options: dict, image: str) -> None:
    """Runs in the fresh process: one measured call, a JSON line on stdout."""
    from PIL import Image

    from rembg_core import memory, models
    from rembg_core.session import SessionConfig, load_session

    data = Path(image).read_bytes()
    warm = io.BytesIO()
    Image.new("RGB", (320, 320), (120, 160, 200)).save(warm, "PNG")
    if side == "ours":
        from rembg_core.options import RemoveOptions
        from rembg_core.pipeline import encode_result, remove

        session = load_session(SessionConfig())
        opts = RemoveOptions(**options)

        def call(b: bytes) -> bytes:
            return encode_result(remove(b, session=session, options=opts))
    else:
        os.environ["U2NET_HOME"] = str(models.models_dir())  # rembg loads the very same u2netp file
        import rembg

        session = rembg.new_session("u2netp", sess_opts=SessionConfig().session_options(),
                                    providers=["CPUExecutionProvider"])

        def call(b: bytes) -> bytes:
            return rembg.remove(b, session=session, **options)
    for _ in range(2):
        call(warm.getvalue())
    exact = memory.reset_peak()
    before = memory.rss()
    load = os.getloadavg()[0]
    c0, t0 = time.process_time(), time.perf_counter()
    out = call(data)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = memory.read_hwm()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "growth": (peak or memory.rss()) - before, "exact_peak": exact,
                      "out_bytes": len(out), "load": load}))


def make_image(megapixels: float, folder: Path) -> Path:
    from PIL import Image
    from skimage import data

    src = Image.fromarray(data.astronaut()).convert("RGB")
    scale = (megapixels * 1e6 / (src.width * src.height)) ** 0.5
    im = src.resize((round(src.width * scale), round(src.height * scale)), Image.Resampling.BICUBIC)
    path = folder / f"astronaut-{megapixels:g}mp.jpg"
    im.save(path, "JPEG", quality=90)
    return path


def run_one(mode: str, image: Path, timeout: float) -> dict:
    side, options = MODES[mode]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", side, json.dumps(options), str(image)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if proc.returncode != 0:
        return {"failed": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    ok = [r for r in runs if "seconds" in r]
    out: dict = {"runs": len(runs), "ok": len(ok), "timeouts": sum("timeout" in r for r in runs),
                 "failed": [r["failed"] for r in runs if "failed" in r]}
    if ok:
        secs, grow = [r["seconds"] for r in ok], [r["growth"] / 2**20 for r in ok]
        cpu = [r["cpu"] for r in ok]
        out.update(cpu=statistics.median(cpu), cpu_range=(min(cpu), max(cpu)))
        out.update(seconds=statistics.median(secs), seconds_range=(min(secs), max(secs)),
                   growth_mb=statistics.median(grow), growth_range=(min(grow), max(grow)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=3, metavar=("SIDE", "OPTIONS", "IMAGE"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", nargs="+", type=float, default=[4, 12])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], json.loads(args.child[1]), args.child[2])
        return 0
    results: dict = {"timeout": args.timeout, "load_start": os.getloadavg(), "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        for mp in args.sizes:
            image = make_image(mp, Path(tmp))
            runs: dict[str, list[dict]] = {m: [] for m in args.modes}
            for r in range(args.rounds):
                order = args.modes if r % 2 == 0 else list(reversed(args.modes))
                for mode in order:
                    if runs[mode] and all("timeout" in x for x in runs[mode]):
                        runs[mode].append({"timeout": args.timeout, "skipped": True})  # timed out before: don't burn the machine again
                        continue
                    res = run_one(mode, image, args.timeout)
                    runs[mode].append(res)
                    print(f"{mp:g} MP round {r + 1} {mode}: {res}", file=sys.stderr, flush=True)
            results[f"{mp:g}"] = {m: summary(v) for m, v in runs.items()} | {"raw": runs}
    results["load_end"] = os.getloadavg()
    report(results, args.sizes)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def report(results: dict, sizes: list[float]) -> None:
    print(f"load average at start {results['load_start']}, at end {results['load_end']}, {results['cpus']} cpus")
    print("| size | mode | wall time median (min–max) | CPU time median (min–max) | peak growth median (min–max) | runs ok |")
    print("|---|---|---|---|---|---|")
    for mp in sizes:
        for mode, s in results[f"{mp:g}"].items():
            if mode == "raw":
                continue
            if "seconds" in s:
                t = f"{s['seconds']:.1f} s ({s['seconds_range'][0]:.1f}–{s['seconds_range'][1]:.1f})"
                c = f"{s['cpu']:.1f} s ({s['cpu_range'][0]:.1f}–{s['cpu_range'][1]:.1f})"
                g = f"+{s['growth_mb']:.0f} MB ({s['growth_range'][0]:.0f}–{s['growth_range'][1]:.0f})"
            else:
                t = c = g = f"timed out ({results['timeout']:.0f} s)" if s["timeouts"] else "failed"
            print(f"| {mp:g} MP | {mode} | {t} | {c} | {g} | {s['ok']}/{s['runs']} |")
    print("\n| size | ours / rembg | wall time ratio | CPU time ratio | peak growth ratio |")
    print("|---|---|---|---|---|")
    for mp in sizes:
        res = results[f"{mp:g}"]
        for ours, theirs in PAIRS:
            a, b = res.get(ours, {}), res.get(theirs, {})
            if "seconds" in a and "seconds" in b:
                print(f"| {mp:g} MP | {ours} / {theirs} | {a['seconds'] / b['seconds']:.2f}× | "
                      f"{a['cpu'] / b['cpu']:.2f}× | {a['growth_mb'] / max(b['growth_mb'], 1e-9):.2f}× |")
            elif "seconds" in a and b.get("timeouts"):
                print(f"| {mp:g} MP | {ours} / {theirs} | rembg timed out | rembg timed out | — |")


if __name__ == "__main__":
    sys.exit(main())
