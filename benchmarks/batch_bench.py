"""Batch benchmark: throughput, RSS drift and the cache, each mode in a fresh interpreter.

    python benchmarks/batch_bench.py            # 200 images of ~1 MP (the documented run)
    python benchmarks/batch_bench.py --n 40     # a quicker check

Images are generated from rembg's peer-suite fixtures (crops, flips, rescaled to about 1 MP)
into a temporary folder that is deleted afterwards. Modes:

- bare       session.run alone on the same images (decode and preprocess untimed): the ceiling
- serial     run_batch(pipelined=False), results streamed into a zip
- pipelined  run_batch(pipelined=True), results streamed into a zip
- rembg      rembg.remove(bytes, session=new_session("u2netp")) in a loop into a zip
             (rembg's own folder command `rembg p` needs the rembg[cli] extras: gradio and more)
- cache      pipelined with a result cache: first pass fills it, second pass is served from it

Every mode loads the session and warms up twice first (with enable_mem_pattern ONNX Runtime
plans on run 1 and allocates on run 2), so the figures are steady state. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEER = Path(os.environ.get("REMBG_LAB_PEER_SUITE", ROOT.parent / "shared" / "peer-suite"))
MODES = ("bare", "serial", "pipelined", "rembg", "cache")


def make_images(dest: Path, n: int, megapixels: float = 1.0, seed: int = 5) -> list[Path]:
    from PIL import Image, ImageOps

    fixtures = sorted((PEER / "fixtures").glob("*.jpg"))
    if not fixtures:
        sys.exit(f"no fixtures in {PEER / 'fixtures'} (set REMBG_LAB_PEER_SUITE)")
    rng = random.Random(seed)
    sources = [Image.open(f).convert("RGB") for f in fixtures]
    paths = []
    for i in range(n):
        im = sources[i % len(sources)]
        w, h = im.size
        f = rng.uniform(0.6, 1.0)
        cw, ch = int(w * f), int(h * f)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = im.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        scale = (megapixels * 1e6 * rng.uniform(0.9, 1.1) / (cw * ch)) ** 0.5
        crop = crop.resize((round(cw * scale), round(ch * scale)), Image.Resampling.BICUBIC)
        path = dest / f"img{i:04d}.jpg"
        crop.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


# --- workers (each in its own interpreter) ---------------------------------------

def _warm(session_run, preprocess_one, first: Path) -> None:
    x = preprocess_one(first)
    for _ in range(2):
        session_run(x)


def worker(mode: str, folder: Path, out: Path, config_flags: dict) -> dict:
    from rembg_core import SessionConfig, get_session
    from rembg_core.memory import rss

    files = sorted(folder.glob("*.jpg"))
    config = SessionConfig(**config_flags)
    rec: dict = {"mode": mode, "images": len(files), "rss_start": rss()}

    if mode == "rembg":
        from rembg import new_session, remove

        session = new_session("u2netp")
        remove(files[0].read_bytes(), session=session)
        remove(files[0].read_bytes(), session=session)
        rec["rss_warm"] = rss()
        rss_items = []
        t0 = time.perf_counter()
        with zipfile.ZipFile(out / "rembg.zip", "w", zipfile.ZIP_STORED) as zf:
            for f in files:
                zf.writestr(f.stem + ".png", remove(f.read_bytes(), session=session))
                rss_items.append(rss())
        rec["seconds"] = time.perf_counter() - t0
        rec["rss_items"] = rss_items
    else:
        from rembg_core.imageio import load_image
        from rembg_core.pipeline import preprocess

        session = get_session(config)
        prep = lambda p: preprocess(load_image(p).rgb, session.spec)  # noqa: E731
        _warm(session.run, prep, files[0])
        rec["rss_warm"] = rss()
        if mode == "bare":
            spent = 0.0
            rss_items = []
            for f in files:
                x = prep(f)
                t0 = time.perf_counter()
                session.run(x)
                spent += time.perf_counter() - t0
                rss_items.append(rss())
            rec["seconds"] = spent
            rec["rss_items"] = rss_items
        else:
            from rembg_core.batch import collect, run_batch, zip_writer
            from rembg_core.cache import ResultCache

            items = collect([str(folder)])
            passes = 2 if mode == "cache" else 1
            cache = ResultCache(out / "cache", max_bytes=4 * 1024**3) if mode == "cache" else None
            for p in range(passes):
                rss_items, errors = [], 0
                t0 = time.perf_counter()
                with zip_writer(out / f"{mode}{p}.zip") as add:
                    for r in run_batch(items, config, cache=cache, pipelined=(mode != "serial")):
                        if r.ok:
                            add(r.output_name, r.data)
                        else:
                            errors += 1
                        rss_items.append(r.rss)
                key = "seconds" if p == 0 else "seconds_cached"
                rec[key] = time.perf_counter() - t0
                rec["rss_items" if p == 0 else "rss_items_cached"] = rss_items
                rec["errors"] = errors
            if cache is not None:
                s = cache.stats
                rec["cache"] = {"hits": s.hits, "misses": s.misses, "writes": s.writes}
    rec["rss_end"] = rss()
    rec["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
    return rec


# --- driver ---------------------------------------------------------------------

def run_child(mode: str, folder: Path, out: Path, flags: dict, u2net_home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "U2NET_HOME": str(u2net_home)}
    proc = subprocess.run([sys.executable, __file__, "--worker", mode, "--folder", str(folder), "--out", str(out),
                           "--flags", json.dumps(flags)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_record(runs: list[dict]) -> dict:
    """The run with the median wall time (whole records, so its RSS series stays its own)."""
    ranked = sorted(runs, key=lambda r: r["seconds"])
    rec = dict(ranked[len(ranked) // 2])
    rec["all_seconds"] = [round(r["seconds"], 2) for r in runs]
    return rec


def table(records: list[dict], n: int) -> str:
    from rembg_core.batch import rss_drift

    MB = 1024 * 1024
    bare = next((r for r in records if r["mode"] == "bare"), None)
    warm = max(5, n // 10)
    lines = [
        "| mode | images | seconds | images/s | × bare session.run | RSS after warm-up → end (MB) | drift after warm-up | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ips = r["images"] / r["seconds"]
        ratio = f"{ips / (bare['images'] / bare['seconds']):.2f}" if bare else "–"
        drift = rss_drift(r["rss_items"], warmup=warm, window=warm)
        lines.append(
            f"| {r['mode']} | {r['images']} | {r['seconds']:.1f} | {ips:.2f} | {ratio} | "
            f"{r['rss_warm'] / MB:.0f} → {r['rss_end'] / MB:.0f} | "
            f"{'–' if drift is None else f'{100 * drift:+.1f} %'} | {r['peak_rss'] / MB:.0f} |"
        )
        if "seconds_cached" in r:
            ipc = r["images"] / r["seconds_cached"]
            lines.append(
                f"| cache, 2nd pass | {r['images']} | {r['seconds_cached']:.2f} | {ipc:.1f} | "
                f"{ipc / (bare['images'] / bare['seconds']):.1f} | – | – | – |" if bare else
                f"| cache, 2nd pass | {r['images']} | {r['seconds_cached']:.2f} | {ipc:.1f} | – | – | – | – |"
            )
            lines.append(f"\nCache second pass: **{r['seconds'] / r['seconds_cached']:.0f}×** the first "
                         f"({r['cache']['hits']} hits, {r['cache']['misses']} misses).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="images (default 200)")
    ap.add_argument("--megapixels", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every mode this many times, order rotated, and report the median run (busy machines)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--no-arena", action="store_true")
    ap.add_argument("--no-mem-pattern", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the raw records here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--flags", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.folder, args.out, json.loads(args.flags))))
        return

    from rembg_core import models

    flags = {"enable_cpu_mem_arena": not args.no_arena, "enable_mem_pattern": not args.no_mem_pattern,
             "intra_op_num_threads": args.threads}
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        sys.exit(f"unknown modes: {', '.join(sorted(unknown))}")
    model = models.fetch("u2netp")
    with tempfile.TemporaryDirectory(prefix="rembg-lab-batch-") as tmp:
        tmp = Path(tmp)
        folder, home = tmp / "images", tmp / "u2net"
        folder.mkdir()
        home.mkdir()
        shutil.copy(model, home / "u2netp.onnx")  # rembg reads its model from U2NET_HOME
        files = make_images(folder, args.n, args.megapixels)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        load = os.getloadavg()
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for r in range(args.rounds):
            order = modes[r % len(modes):] + modes[:r % len(modes)]  # rotated: no mode always runs first
            for mode in order:
                out = tmp / f"out-{mode}"
                out.mkdir()
                print(f"round {r + 1}/{args.rounds}: {mode}…", file=sys.stderr, flush=True)
                runs[mode].append(run_child(mode, folder, out, flags, home))
                shutil.rmtree(out)
        records = [median_record(runs[m]) for m in modes]
        load_end = os.getloadavg()
    import onnxruntime

    print(f"\n{args.n} JPEGs of ~{args.megapixels:g} MP ({size_mb:.0f} MB) from the peer-suite fixtures; "
          f"u2netp, arena {'off' if args.no_arena else 'on'}, mem pattern {'off' if args.no_mem_pattern else 'on'}, "
          f"threads {args.threads or 'auto'}; ONNX Runtime {onnxruntime.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores; load average {load[0]:.1f} at start, {load_end[0]:.1f} at end.\n")
    print(table(records, args.n))
    if args.rounds > 1:
        print("\nMedian of " + str(args.rounds) + " rounds; every round's seconds: "
              + "; ".join(f"{r['mode']} {r['all_seconds']}" for r in records) + ".")
    print(f"\nReproduce: `python benchmarks/batch_bench.py --n {args.n}"
          f"{f' --rounds {args.rounds}' if args.rounds > 1 else ''}"
          f"{f' --modes {args.modes}' if args.modes != ','.join(MODES) else ''}"
          f"{' --no-arena' if args.no_arena else ''}{' --no-mem-pattern' if args.no_mem_pattern else ''}`")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
