"""int8 u2netp against fp32 and against rembg 2.0.86: speed, memory, file size, mask agreement.

    .venv/bin/python benchmarks/int8_bench.py [--rounds 15] [--memory-repeats 3] [--json OUT]

1. session.run alone, fp32 vs int8, on the same input tensors: interleaved rounds (order flipped
   every round) so machine load hits both alike; paired medians, on ORT's default threads and on 1.
2. remove() end to end at ≤ 1 MP: rembg_core with int8 (and fp32) vs rembg.remove with its own
   u2netp session (the same fp32 file), interleaved the same way; bytes in → RGBA image out.
3. Memory in fresh processes (rembg_core.measure.runner.run_isolated): arena on/off × mem pattern on/off
   for each model; retained = after the runs − after the load, peak = the child's VmHWM (rembg_core.memory.peak_rss).
4. File sizes, and the quality table (held-out photos plus rembg's fixtures when present).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rembg_core import models, samples
from rembg_core.measure.configs import ProbeConfig
from rembg_core.measure.runner import run_isolated
from rembg_core.memory import MB
from rembg_core.quantize import quality
from rembg_core.session import SessionConfig

PEER = samples.peer_suite() or ROOT.parent / "shared" / "peer-suite"  # absent: no fixtures added
MODELS = ("u2netp", "u2netp-int8")


def photos_up_to(megapixels: float) -> list[tuple[str, bytes]]:
    """Held-out photos and rembg's fixtures (never calibration photos), those of at most `megapixels`."""
    from PIL import Image

    out = []
    fixtures = {p.name: p for p in sorted((PEER / "fixtures").glob("*.jpg"))}
    for name, load in quality.default_photos():
        if name in fixtures:  # the file's own bytes, as a user would send them
            out.append((name, fixtures[name].read_bytes()))
            continue
        buf = io.BytesIO()
        load().save(buf, "PNG")
        out.append((name, buf.getvalue()))
    keep = []
    for name, data in out:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height <= megapixels * 1e6:
                keep.append((name, data))
    return keep


def interleaved(calls: dict[str, callable], rounds: int) -> dict[str, list[float]]:
    """Each round runs every call once, the order rotated round by round; seconds per call."""
    names = list(calls)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t = time.perf_counter()
            calls[n]()
            times[n].append(time.perf_counter() - t)
    return times


def summary(times: dict[str, list[float]], base: str) -> dict:
    med = {n: statistics.median(v) for n, v in times.items()}
    out = {"median_s": med, "rounds": len(next(iter(times.values())))}
    out["ratio_of_medians_vs_" + base] = {n: med[n] / med[base] for n in times}
    out["median_paired_ratio_vs_" + base] = {
        n: statistics.median(a / b for a, b in zip(times[n], times[base])) for n in times}
    return out


def bare_runs(photos, rounds: int, threads: int) -> dict:
    from PIL import Image

    from rembg_core.pipeline import preprocess
    from rembg_core.session import load_session

    sessions = {m: load_session(SessionConfig(model=m, intra_op_num_threads=threads)) for m in MODELS}
    spec = sessions["u2netp"].spec
    batches = [preprocess(Image.open(io.BytesIO(d)).convert("RGB"), spec) for _, d in photos]

    def run_all(s):
        return lambda: [s.run(b) for b in batches]

    for s in sessions.values():  # two warm-ups: the mem pattern allocates on the second run
        run_all(s)()
        run_all(s)()
    times = interleaved({m: run_all(s) for m, s in sessions.items()}, rounds)
    return {"threads": threads or "ORT default", "inputs": len(batches), **summary(times, "u2netp")}


def end_to_end(photos, rounds: int, home: Path) -> dict:
    from PIL import Image

    from rembg_core.pipeline import remove
    from rembg_core.session import load_session

    os.environ["U2NET_HOME"] = str(home)
    os.environ.pop("OMP_NUM_THREADS", None)
    import rembg

    config = SessionConfig()
    rembg_session = rembg.new_session("u2netp", sess_opts=config.session_options(),
                                      providers=["CPUExecutionProvider"])
    ours = {m: load_session(SessionConfig(model=m)) for m in MODELS}

    def with_ours(m):
        return lambda: [remove(d, session=ours[m]).image for _, d in photos]

    def with_rembg():
        return [rembg.remove(Image.open(io.BytesIO(d)), session=rembg_session) for _, d in photos]

    calls = {"rembg 2.0.86 (u2netp)": with_rembg, "rembg_core u2netp-int8": with_ours("u2netp-int8"),
             "rembg_core u2netp": with_ours("u2netp")}
    for c in calls.values():
        c()
        c()
    times = interleaved(calls, rounds)
    return {"photos": [n for n, _ in photos], **summary(times, "rembg 2.0.86 (u2netp)")}


def memory(image: Path, repeats: int) -> list[dict]:
    rows = []
    for arena in (True, False):
        for pattern in (True, False):
            for m in MODELS:  # the two models back to back for each flag pair
                config = ProbeConfig(SessionConfig(model=m, enable_cpu_mem_arena=arena, enable_mem_pattern=pattern))
                r = run_isolated(config, image, repeats=repeats, warmups=0)
                rows.append({"model": m, "arena": arena, "pattern": pattern, "ok": r.ok, "reason": r.reason,
                             "load_plus_runs_mb": (r.memory.after - r.start_rss) / MB if r.ok else None,
                             "retained_mb": r.memory.retained / MB if r.ok else None,
                             "peak_minus_start_mb": (r.memory.peak - r.start_rss) / MB if r.ok else None,
                             "peak_mb": r.memory.peak / MB if r.ok else None,
                             "median_s": r.median_latency})
    return rows


def markdown(r: dict) -> str:
    """The tables for docs/BENCHMARKS.md, straight from a result (never typed in by hand)."""
    m = r["machine"]
    lines = [f"Run {m['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; ONNX Runtime "
             f"{m['onnxruntime']}, rembg {m['rembg']}. Load average {', '.join(f'{v:.1f}' for v in m['loadavg_start'])} "
             f"at the start, {', '.join(f'{v:.1f}' for v in m['loadavg_end'])} at the end (a shared machine: "
             "absolute times are noisy, the ratios come from interleaved rounds in one process).",
             f"Command: `.venv/bin/python {r['command']}`", ""]
    f = r["files"]
    lines += ["| file | size | sha256 |", "|---|---:|---|"]
    lines += [f"| {n} | {v['bytes'] / 1e6:.2f} MB | `{v['sha256'][:16]}…` |" for n, v in f.items()]
    lines += ["", "**session.run** (the same input tensors; per round, all inputs once per model):", "",
              "| threads | inputs | rounds | fp32 median | int8 median | fp32 / int8 (medians) | median paired ratio |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for key in ("bare_default_threads", "bare_one_thread"):
        b = r[key]
        med = b["median_s"]
        lines.append(f"| {b['threads']} | {b['inputs']} | {b['rounds']} | {med['u2netp']:.3f} s | "
                     f"{med['u2netp-int8']:.3f} s | {med['u2netp'] / med['u2netp-int8']:.2f}× | "
                     f"{1 / b['median_paired_ratio_vs_u2netp']['u2netp-int8']:.2f}× |")
    e = r["end_to_end"]
    base = "rembg 2.0.86 (u2netp)"
    lines += ["", f"**remove() end to end at ≤ 1 MP** ({len(e['photos'])} photos: {', '.join(e['photos'])}; "
              "bytes in → RGBA image out, ORT defaults; per round, all photos once per implementation):", "",
              "| implementation | median per round | × rembg (medians) | median paired ratio |", "|---|---:|---:|---:|"]
    for n, v in e["median_s"].items():
        lines.append(f"| {n} | {v:.3f} s | {e['ratio_of_medians_vs_' + base][n]:.2f} | "
                     f"{e['median_paired_ratio_vs_' + base][n]:.2f} |")
    lines += ["", "**Memory**, each row a fresh process (`run_isolated`: load, then 3 runs on astronaut.png, no "
              "warm-up); *load + runs* = RSS after the runs − RSS before the session; *retained* = after the runs − "
              "after the load; *peak* = the child's VmHWM − RSS before the session:", "",
              "| arena | pattern | model | load + runs | retained | peak growth | peak RSS |",
              "|---|---|---|---:|---:|---:|---:|"]
    for row in r["memory"]:
        if not row["ok"]:
            lines.append(f"| {row['arena']} | {row['pattern']} | {row['model']} | failed: {row['reason']} | | | |")
            continue
        lines.append(f"| {'on' if row['arena'] else 'off'} | {'on' if row['pattern'] else 'off'} | {row['model']} | "
                     f"{row['load_plus_runs_mb']:+.0f} MB | {row['retained_mb']:+.0f} MB | "
                     f"{row['peak_minus_start_mb']:+.0f} MB | {row['peak_mb']:.0f} MB |")
    q = r["quality"]
    lines += ["", "**Quality**, int8 vs fp32 on photos never used for calibration:", "",
              "| photo | size | IoU at 0.5 | mean \\|Δα\\| | max \\|Δα\\| |", "|---|---|---:|---:|---:|"]
    for p in q["photos"]:
        lines.append(f"| {p['name']} | {p['size'][0]}×{p['size'][1]} | {p['iou']:.4f} | {p['mean_abs_delta']:.3f} | "
                     f"{p['max_abs_delta']} |")
    lines.append(f"| **mean** | | **{q['mean_iou']:.4f}** | **{q['mean_abs_delta']:.3f}** | |")
    lines.append(f"\nWorst: {q['worst']} (IoU {q['worst_iou']:.4f}). Gate: "
                 + ("pass." if not q["failures"] else "FAIL: " + "; ".join(q["failures"])))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--memory-repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", metavar="RESULT_JSON", default=None,
                    help="print the docs tables for a saved result and exit")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    for m in MODELS:
        models.fetch(m, lambda msg, *_: print(msg, file=sys.stderr))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from run_all import machine

    result = {"machine": machine(), "command": " ".join(["benchmarks/int8_bench.py", *sys.argv[1:]])}
    photos = photos_up_to(1.0)
    print(f"{len(photos)} photos ≤ 1 MP: {', '.join(n for n, _ in photos)}", file=sys.stderr)
    result["files"] = {m: {"bytes": models.model_path(m).stat().st_size,
                           "sha256": models.file_digest(models.model_path(m), "sha256")} for m in MODELS}
    print("session.run, ORT default threads …", file=sys.stderr)
    result["bare_default_threads"] = bare_runs(photos, args.rounds, 0)
    print("session.run, 1 thread …", file=sys.stderr)
    result["bare_one_thread"] = bare_runs(photos, max(5, args.rounds // 2), 1)
    with tempfile.TemporaryDirectory(prefix="rembg-lab-u2net-home-") as home:
        os.symlink(models.model_path("u2netp"), Path(home) / "u2netp.onnx")
        print("remove() vs rembg …", file=sys.stderr)
        result["end_to_end"] = end_to_end(photos, args.rounds, Path(home))
    with tempfile.TemporaryDirectory(prefix="rembg-lab-int8-mem-") as tmp:
        image = Path(tmp) / "photo.png"
        image.write_bytes(dict(photos)["astronaut.png"])
        print("memory, fresh processes …", file=sys.stderr)
        result["memory"] = memory(image, args.memory_repeats)
    print("quality …", file=sys.stderr)

    result["quality"] = quality.measure(quality.default_photos()).to_dict()
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    text = json.dumps(result, indent=1, default=str)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(markdown(json.loads(text)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
