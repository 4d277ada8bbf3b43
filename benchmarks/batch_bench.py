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
- cache      the default (serial) engine with a result cache: the first pass fills it, the second is served from it

`--paired` instead interleaves serial/pipelined x ORT spinning on/off in one process (the
fair comparison on a busy machine); `--no-spin` turns ORT's spin-waiting off for every mode.

Every mode loads the session and warms up twice first (with enable_mem_pattern ONNX Runtime
plans on run 1 and allocates on run 2), so the figures are steady state. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rembg_core import samples  # noqa: E402
from rembg_core.measure import machine  # noqa: E402

PEER = samples.peer_suite_path()
MODES = ("bare", "serial", "pipelined", "rembg", "cache")


def make_images(dest: Path, n: int, megapixels: float = 1.0, seed: int = 5) -> list[Path]:
    from PIL import Image

    from benchmarks.photos import variants

    fixtures = sorted((PEER / "fixtures").glob("*.jpg"))
    if not fixtures:
        sys.exit(f"no fixtures in {PEER / 'fixtures'} (set REMBG_LAB_PEER_SUITE)")
    return variants([Image.open(f).convert("RGB") for f in fixtures], dest, n, megapixels, seed=seed)


# --- workers (each in its own interpreter) ---------------------------------------

def _warm(session_run, preprocess_one, first: Path) -> None:
    x = preprocess_one(first)
    for _ in range(2):
        session_run(x)


def make_session(config, spin: bool = True):
    """The library's session, or one built the same way with ORT's intra-op spin-waiting off
    (session.intra_op.allow_spinning=0, not a SessionConfig field yet)."""
    import onnxruntime as ort

    from rembg_core import get_session, models
    from rembg_core.session import ModelSession

    if spin:
        return get_session(config)
    so = config.session_options()
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    inner = ort.InferenceSession(str(models.verify(config.model)), sess_options=so, providers=["CPUExecutionProvider"])
    return ModelSession(config, models.get_spec(config.model), inner, inner.get_inputs()[0].name, 0.0)


def paired(folder: Path, config, rounds: int) -> dict:
    """Bare session.run, serial and pipelined batches (ORT spinning on and off) and rembg's loop,
    interleaved in one process on one set of images, order rotated each round: a busy machine
    slows every variant alike, so the ratios survive load that separate runs do not."""
    import statistics
    import zipfile as zf_mod

    from rembg import new_session
    from rembg import remove as rembg_remove

    from rembg_core.batch import collect, run_batch, zip_writer
    from rembg_core.imageio import load_image
    from rembg_core.pipeline import preprocess

    items = collect([str(folder)])
    files = sorted(folder.glob("*.jpg"))
    sessions = {True: make_session(config, True), False: make_session(config, False)}
    rembg_session = new_session("u2netp")

    def bare(spin: bool) -> float:  # session.run only; decode and preprocess untimed
        spent = 0.0
        for f in files:
            x = preprocess(load_image(f).rgb, sessions[spin].spec)
            t = time.perf_counter()
            sessions[spin].run(x)
            spent += time.perf_counter() - t
        return spent

    def batch(spin: bool, pipelined: bool) -> float:
        t = time.perf_counter()
        with zip_writer(folder.parent / "paired.zip") as add:
            for r in run_batch(items, session=sessions[spin], pipelined=pipelined):
                if r.ok:
                    add(r.output_name, r.data)
        return time.perf_counter() - t

    def rembg_loop() -> float:
        t = time.perf_counter()
        with zf_mod.ZipFile(folder.parent / "paired-rembg.zip", "w", zf_mod.ZIP_STORED) as zf:
            for f in files:
                zf.writestr(f.stem + ".png", rembg_remove(f.read_bytes(), session=rembg_session))
        return time.perf_counter() - t

    variants = {
        "bare session.run, spin on": lambda: bare(True),
        "serial batch, spin on": lambda: batch(True, False),
        "pipelined batch, spin on": lambda: batch(True, True),
        "bare session.run, spin off": lambda: bare(False),
        "serial batch, spin off": lambda: batch(False, False),
        "pipelined batch, spin off": lambda: batch(False, True),
        "rembg remove() loop (its defaults)": rembg_loop,
    }
    for sp in (True, False):  # warm-up: mem pattern plans on run 1, allocates on run 2
        list(run_batch(items[:3], session=sessions[sp], pipelined=False))
    rembg_remove(files[0].read_bytes(), session=rembg_session)
    rembg_remove(files[0].read_bytes(), session=rembg_session)
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    names = list(variants)
    for r in range(rounds):
        for v in names[r % len(names):] + names[:r % len(names)]:
            c = time.process_time()
            wall[v].append(variants[v]() / len(files))
            cpu[v].append((time.process_time() - c) / len(files))
    return {v: {"wall": statistics.median(wall[v]), "cpu": statistics.median(cpu[v]), "all": wall[v]} for v in variants}


def worker(mode: str, folder: Path, out: Path, config_flags: dict) -> dict:
    from rembg_core import SessionConfig
    from rembg_core.memory import peak_rss, rss

    files = sorted(folder.glob("*.jpg"))
    spin = not config_flags.pop("no_spin", False)
    rounds = config_flags.pop("rounds", 3)
    config = SessionConfig(**config_flags)
    if mode == "paired":
        return {"mode": mode, "images": len(files), "variants": paired(folder, config, rounds)}
    rec: dict = {"mode": mode, "images": len(files), "rss_start": rss()}

    if mode == "rembg":
        import onnxruntime as ort
        from rembg import new_session, remove

        so = ort.SessionOptions()  # rembg's own defaults, plus the same spinning choice
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = new_session("u2netp", sess_opts=so)
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

        session = make_session(config, spin)
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
            from rembg_core.batch.cache import ResultCache

            items = collect([str(folder)])
            passes = 2 if mode == "cache" else 1
            cache = ResultCache(out / "cache", max_bytes=4 * 1024**3) if mode == "cache" else None
            for p in range(passes):
                rss_items, errors = [], 0
                t0 = time.perf_counter()
                with zip_writer(out / f"{mode}{p}.zip") as add:
                    for r in run_batch(items, config, cache=cache, pipelined=(mode == "pipelined"), session=session):
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
    rec["peak_rss"] = peak_rss()
    return rec


# --- driver ---------------------------------------------------------------------

CHILD_TIMEOUT = 6 * 3600  # a 200-image batch on a loaded 2-core machine; a hung child still ends


def run_child(mode: str, folder: Path, out: Path, flags: dict, u2net_home: Path) -> dict:
    """One mode in a fresh interpreter, as a mode of the library's child runner: the record comes back
    on a pipe (rembg_core.measure.runner.spawn), never parsed from stdout."""
    from rembg_core.measure.configs import ProbeConfig
    from rembg_core.measure.runner import spawn

    spec = {"mode": mode, "folder": str(folder), "out": str(out), "flags": flags}
    outcome = spawn(spec, ProbeConfig(), timeout=CHILD_TIMEOUT, module="benchmarks.batch_bench",
                    env={"U2NET_HOME": str(u2net_home)})
    if outcome.payload is None:
        sys.exit(f"{mode} failed: {outcome.reason}")
    return outcome.payload


def child_main(argv: list[str]) -> int:
    """`python -m benchmarks.batch_bench --result-fd N SPEC`: one mode, its record on the pipe."""
    from rembg_core.measure.child import serve

    def run(spec: dict) -> dict:
        return worker(spec["mode"], Path(spec["folder"]), Path(spec["out"]), spec["flags"])

    return serve(dict.fromkeys(MODES, run), "benchmarks.batch_bench", argv)


def median_record(runs: list[dict]) -> dict:
    """The run with the median wall time (whole records, so its RSS series stays its own)."""
    ranked = sorted(runs, key=lambda r: r["seconds"])
    rec = dict(ranked[len(ranked) // 2])
    rec["all_seconds"] = [round(r["seconds"], 2) for r in runs]
    return rec


def table(records: list[dict], n: int) -> str:
    from rembg_core.measure.analysis import rss_drift

    MB = 1024 * 1024
    bare = next((r for r in records if r["mode"] == "bare"), None)
    warm = max(5, n // 10)
    notes: list[str] = []
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
            notes.append(f"\nCache second pass: **{r['seconds'] / r['seconds_cached']:.0f}×** the speed of the first "
                         f"({r['cache']['hits']} hits, {r['cache']['misses']} misses).")
    return "\n".join(lines + notes)


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
    ap.add_argument("--no-spin", action="store_true", help="ORT intra-op threads sleep instead of spin-waiting")
    ap.add_argument("--paired", action="store_true",
                    help="instead of the modes: serial vs pipelined x spinning on/off, interleaved in one process")
    ap.add_argument("--json", type=Path, help="also write the raw records here")
    args = ap.parse_args()

    from rembg_core import models

    flags = {"enable_cpu_mem_arena": not args.no_arena, "enable_mem_pattern": not args.no_mem_pattern,
             "intra_op_num_threads": args.threads, "no_spin": args.no_spin, "rounds": max(1, args.rounds)}
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
        if args.paired:
            rec = run_child("paired", folder, tmp, flags, home)
            load_end = os.getloadavg()
            print(f"\n{args.n} JPEGs of ~{args.megapixels:g} MP; bare session.run, serial and pipelined batches "
                  f"(ORT spinning on/off), rembg; "
                  f"interleaved in one process, median of {flags['rounds']} rounds; {machine.summary()}, "
                  f"load average {load[0]:.1f} → {load_end[0]:.1f}.\n")
            print("| variant | s / image (median) | × bare session.run (same spin) | CPU s / image | every round |\n"
                  "|---|---|---|---|---|")
            res = rec["variants"]
            for v, r in res.items():
                spin = "spin off" if v.endswith("spin off") else "spin on"
                ratio = res[f"bare session.run, {spin}"]["wall"] / r["wall"]
                print(f"| {v} | {r['wall']:.3f} | {ratio:.2f} | {r['cpu']:.3f} | "
                      f"{', '.join(f'{x:.2f}' for x in r['all'])} |")
            print("\nBare session.run time excludes decoding and preprocessing (done untimed); the CPU column "
                  "for it still includes them.")
            print(f"\nReproduce: `python benchmarks/batch_bench.py --paired --n {args.n} --rounds {flags['rounds']}`")
            return
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
          f"threads {args.threads or 'auto'}{', spinning off' if args.no_spin else ''}; ONNX Runtime {onnxruntime.__version__}; "
          f"{machine.summary()}; load average {load[0]:.1f} at start, {load_end[0]:.1f} at end.\n")
    print(table(records, args.n))
    if args.rounds > 1:
        print("\nMedian of " + str(args.rounds) + " rounds; every round's seconds: "
              + "; ".join(f"{r['mode']} {r['all_seconds']}" for r in records) + ".")
    print(f"\nReproduce: `python benchmarks/batch_bench.py --n {args.n}"
          f"{f' --rounds {args.rounds}' if args.rounds > 1 else ''}"
          f"{f' --modes {args.modes}' if args.modes != ','.join(MODES) else ''}"
          f"{' --no-arena' if args.no_arena else ''}{' --no-mem-pattern' if args.no_mem_pattern else ''}"
          f"{' --no-spin' if args.no_spin else ''}`")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--result-fd"]:  # spawned by run_child
        sys.exit(child_main(sys.argv[1:]))
    main()
