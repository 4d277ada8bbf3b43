"""Ray engine benchmark: throughput of `remove --engine ray` (a local Ray cluster) against the
serial batch on the same photos, and the peak memory of each actor at each max_size.

    python benchmarks/ray_bench.py                  # 200 photos of ~1 MP, 2 interleaved rounds (the documented run)
    python benchmarks/ray_bench.py --n 40 --rounds 1 --no-memory   # a quicker check

Photos are made from scikit-image's bundled photos (astronaut, coffee, chelsea, rocket, retina,
motorcycle, hubble; installed with the dev requirements): random crops, flips, rescaled to about
1 MP, saved as JPEG into a temporary folder that is deleted afterwards.

Every mode is the real command line in a fresh process, timed end to end (interpreter start,
model load and, for Ray, starting and stopping the local cluster), into a fresh output folder:

- serial          remove DIR -o OUT                                      (the CLI's defaults)
- serial lean     remove DIR -o OUT --no-mem-pattern                     (the Ray actors' session flags)
- ray 2x1         remove DIR -o OUT --engine ray                         (default: 2 actors x 1 thread)
- ray 1x2         remove DIR -o OUT --engine ray --actors 1 --threads 2

Modes run in interleaved rounds, order rotated each round, so machine load hits them alike.
Peak RSS: the serial process's ru_maxrss from os.wait4 (an exited child's VmHWM cannot be read; this
script is small when it forks, so the inherited part is small); for Ray, each actor's VmHWM as
recorded in the manifest. Memory per max_size: 12 photos of ~6 MP, one actor with one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "retina.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg")
MODES = {
    "serial": [],
    "serial lean": ["--no-mem-pattern"],
    "ray 2x1": ["--engine", "ray"],
    "ray 1x2": ["--engine", "ray", "--actors", "1", "--threads", "2"],
}
MB = 1024 * 1024


def make_photos(dest: Path, n: int, megapixels: float, seed: int = 13) -> list[Path]:
    import skimage
    from PIL import Image

    from benchmarks.photos import variants

    folder = Path(skimage.__file__).parent / "data"
    sources = [Image.open(folder / name).convert("RGB") for name in PHOTOS]
    return variants(sources, dest, n, megapixels, seed=seed, min_crop=0.7, prefix="photo")


def run_cli(args: list[str]) -> tuple[float, int, str]:
    """(wall seconds, the process's peak RSS in bytes, stderr) of one CLI run in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "rembg_core", "remove", *args, "--no-progress"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if proc.returncode not in (0, 3):
        sys.exit(f"remove {' '.join(args)} failed ({proc.returncode}):\n{text[-3000:]}")
    return seconds, usage.ru_maxrss * 1024, text


def actor_peaks(out: Path) -> list[int]:
    from rembg_core.distributed import MANIFEST_NAME, manifest

    peaks: dict[str, int] = {}
    for r in manifest.load(out / MANIFEST_NAME):
        peaks[r.worker] = max(peaks.get(r.worker, 0), r.peak_rss)
    return sorted(peaks.values())


def throughput(folder: Path, work: Path, n: int, rounds: int, modes: list[str]) -> dict:
    results: dict[str, list[dict]] = {m: [] for m in modes}
    order = list(modes)
    for rnd in range(rounds):
        for mode in order[rnd % len(order):] + order[:rnd % len(order)]:
            out = work / f"out-{rnd}-{mode.replace(' ', '')}"
            seconds, peak, _ = run_cli([str(folder), "-o", str(out), *MODES[mode]])
            peaks = actor_peaks(out) if "ray" in mode else []
            results[mode].append({"seconds": seconds, "img_per_s": n / seconds, "driver_peak_rss": peak,
                                  "actor_peaks": peaks})
            print(f"round {rnd + 1} {mode:<13} {seconds:7.1f} s  {n / seconds:.2f} img/s  "
                  f"process peak {peak / MB:.0f} MB" + (f"  actors {[round(p / MB) for p in peaks]} MB" if peaks else ""),
                  flush=True)
            shutil.rmtree(out, ignore_errors=True)
    return results


def identical(folder: Path, work: Path) -> bool:
    """Serial and Ray outputs over the first photos, same session flags: byte for byte."""
    a, b = work / "id-serial", work / "id-ray"
    run_cli([str(folder), "-o", str(a), "--no-mem-pattern", "--threads", "1"])
    run_cli([str(folder), "-o", str(b), "--engine", "ray"])
    same = all((b / p.name).read_bytes() == p.read_bytes() for p in a.iterdir()) and \
        len(list(a.iterdir())) == len(list(b.iterdir())) - 1  # + manifest.jsonl
    shutil.rmtree(a), shutil.rmtree(b)
    return same


def memory_by_max_size(work: Path, sizes: list[int | None]) -> list[dict]:
    big = work / "big"
    make_photos(big, 12, 6.0, seed=29)
    rows = []
    for max_size in sizes:
        out = work / f"mem-{max_size}"
        flags = ["--engine", "ray", "--actors", "1", "--threads", "1"] + (["--max-size", str(max_size)] if max_size else [])
        seconds, _, _ = run_cli([str(big), "-o", str(out), *flags])
        peaks = actor_peaks(out)
        rows.append({"max_size": max_size, "actor_peak_rss": peaks[0], "seconds": seconds})
        print(f"max_size {max_size or 'none':>5}: actor peak {peaks[0] / MB:.0f} MB ({seconds:.0f} s)", flush=True)
        shutil.rmtree(out)
    # the session alone: an actor that loads the model and is handed one unreadable file
    (work / "none").mkdir()
    (work / "none" / "x.png").write_bytes(b"not an image")
    _, _, _ = run_cli([str(work / "none"), "-o", str(work / "mem-none"), "--engine", "ray", "--actors", "1",
                       "--threads", "1"])
    rows.append({"max_size": "session only", "actor_peak_rss": actor_peaks(work / "mem-none")[0], "seconds": 0})
    print(f"session only: actor peak {rows[-1]['actor_peak_rss'] / MB:.0f} MB", flush=True)
    return rows


def table(results: dict, n: int) -> str:
    base = statistics.median(r["img_per_s"] for r in results["serial"])
    lines = ["| mode | rounds (s) | median img/s | vs serial | peak RSS |", "|---|---|---:|---:|---|"]
    for mode, runs in results.items():
        med = statistics.median(r["img_per_s"] for r in runs)
        if runs[0]["actor_peaks"]:
            peak = "actors " + ", ".join(f"{max(r['actor_peaks'][i] for r in runs if len(r['actor_peaks']) > i) / MB:.0f}"
                                         for i in range(max(len(r["actor_peaks"]) for r in runs))) + " MB"
        else:
            peak = f"process {max(r['driver_peak_rss'] for r in runs) / MB:.0f} MB"
        rounds = ", ".join(f"{r['seconds']:.1f}" for r in runs)
        lines.append(f"| {mode} | {rounds} | {med:.2f} | "
                     f"{med / base:.2f}x | {peak} |")
    return "\n".join(lines)


def main() -> None:
    from rembg_core.measure import machine

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--megapixels", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-memory", dest="memory", action="store_false")
    ap.add_argument("--modes", default="serial,ray 2x1,ray 1x2", help=f"comma-separated, of: {', '.join(MODES)}")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "ray_bench.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        work = Path(tmp)
        folder = work / "photos"
        make_photos(folder, args.n, args.megapixels)
        sub = work / "first8"
        sub.mkdir()
        for p in sorted(folder.iterdir())[:8]:
            shutil.copy(p, sub / p.name)
        same = identical(sub, work)
        print(f"serial and ray outputs identical on 8 photos: {same}", flush=True)
        results = throughput(folder, work, args.n, args.rounds, args.modes.split(","))
        memory = memory_by_max_size(work, [None, 2048, 1600, 1024, 512]) if args.memory else []
    record = {
        "command": "python benchmarks/ray_bench.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine.summary(),
        "load_before": load_before, "load_after": os.getloadavg(), "n": args.n, "megapixels": args.megapixels,
        "identical": same, "throughput": results, "memory": memory,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(record, indent=1))
    print()
    print(f"{record['when']}, {record['machine']}; load average before {load_before[0]:.2f}, "
          f"after {record['load_after'][0]:.2f}")
    print(table(results, args.n))
    if memory:
        print("\n| max_size | actor peak RSS |\n|---|---:|")
        for m in memory:
            print(f"| {m['max_size'] or 'none'} | {m['actor_peak_rss'] / MB:.0f} MB |")


if __name__ == "__main__":
    main()
