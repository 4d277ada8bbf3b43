"""Every benchmark in one command: rembg_core against rembg, the session-flag sweep, the idle policy.

    .venv/bin/python benchmarks/run_all.py            # what `make bench` runs (5 runs, all inputs)
    .venv/bin/python benchmarks/run_all.py --runs 2 --sizes 2 --fixtures anime-girl-1 --no-docs   # a quick check

Each measurement is one fresh process (benchmarks/worker.py, a mode of rembg_core.measure.runner); rembg and rembg_core alternate
order from run to run. Results go to benchmarks/results/latest.json and replace the block
between the `results` markers in docs/BENCHMARKS.md (or print with --print).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rembg_core import samples  # noqa: E402
from rembg_core.measure.configs import ProbeConfig  # noqa: E402
from rembg_core.measure.machine import facts  # noqa: E402
from rembg_core.measure.runner import spawn  # noqa: E402
from rembg_core.memory import MB  # noqa: E402

DOC = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- results:begin (written by benchmarks/run_all.py) -->", "<!-- results:end -->"
PEER = samples.peer_suite_path()
CAP = 1600
UPSCALE_SOURCE = "anime-girl-1.jpg"


# --- machine ----------------------------------------------------------------------

def machine() -> dict:
    """The one collector's facts (rembg_core.measure.machine), under the names this page's JSON keeps."""
    f = facts()
    v = f["versions"]
    return {"date": f["when"], "cpu": f["processor"], "cores": f["cpu_count"],
            "memory_gb": round(f["memory_bytes"] / 1024**3, 1), "os": f["platform"], "python": f["python"],
            "onnxruntime": v["onnxruntime"], "numpy": v["numpy"], "pillow": v["pillow"], "rembg": v["rembg"],
            "loadavg_start": f["loadavg"]}


# --- inputs -----------------------------------------------------------------------

def make_inputs(tmp: Path, fixtures: list[str] | None, sizes: list[int]) -> list[dict]:
    from PIL import Image

    found = sorted((PEER / "fixtures").glob("*.jpg"))
    if not found:
        raise SystemExit(f"error: {PEER / 'fixtures'}: rembg's peer fixtures not found (set REMBG_LAB_PEER_SUITE)")
    inputs = []
    for path in found:
        if fixtures and path.stem not in fixtures:
            continue
        with Image.open(path) as im:
            inputs.append({"name": path.name, "path": str(path), "size": im.size})
    with Image.open(PEER / "fixtures" / UPSCALE_SOURCE) as src:
        src = src.convert("RGB")
        for mp in sizes:
            scale = math.sqrt(mp * 1e6 / (src.width * src.height))
            size = (round(src.width * scale), round(src.height * scale))
            out = tmp / f"upscale-{mp}mp.jpg"
            src.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
            inputs.append({"name": f"{UPSCALE_SOURCE} → {mp} MP", "path": str(out), "size": size})
    return inputs


# --- runs -------------------------------------------------------------------------

def run_worker(impl: str, image: str, cap: int | None, timeout: float) -> dict:
    """One measurement as a mode of the library's child runner: a fresh interpreter, the result on a pipe."""
    out = spawn({"mode": impl, "image": image, "max_size": cap, "warmups": 2}, ProbeConfig(), timeout=timeout,
                module="benchmarks.worker", env={})
    if out.payload is None:
        return {"ok": False, "reason": out.reason}
    return dict(out.payload, ok=True)


def compare(inputs: list[dict], runs: int, timeout: float) -> list[dict]:
    cases = []
    for inp in inputs:
        for cap in (None, CAP):
            if cap and max(inp["size"]) <= cap:
                continue  # the cap changes nothing: same as uncapped
            cases.append({"input": inp["name"], "path": inp["path"], "size": list(inp["size"]), "cap": cap,
                          "ours": [], "rembg": []})
    bare = {"input": "bare session.run (u2netp, 320×320)", "path": inputs[0]["path"], "bare": []}
    total = runs * (2 * len(cases) + 1)
    done = 0
    for i in range(runs):
        for j, case in enumerate(cases):
            order = ("ours", "rembg") if (i + j) % 2 == 0 else ("rembg", "ours")
            for impl in order:
                r = run_worker(impl, case["path"], case["cap"], timeout)
                case[impl].append(r)
                done += 1
                shown = f"{r['seconds']:.3f} s, +{r['growth'] / MB:.0f} MB" if r["ok"] else r["reason"]
                print(f"[{done}/{total}] run {i + 1} {case['input']} cap={case['cap']} {impl}: {shown}", flush=True)
        r = run_worker("bare", bare["path"], None, timeout)
        bare["bare"].append(r)
        done += 1
        print(f"[{done}/{total}] run {i + 1} bare session.run: "
              + (f"{r['seconds']:.3f} s" if r["ok"] else r["reason"]), flush=True)
    return cases + [bare]


def med(results: list[dict], key: str) -> float | None:
    vals = [r[key] for r in results if r.get("ok")]
    return statistics.median(vals) if vals else None


def spread(results: list[dict]) -> float | None:
    vals = [r["seconds"] for r in results if r.get("ok")]
    return (max(vals) - min(vals)) / statistics.median(vals) if len(vals) > 1 else None


# --- targets ----------------------------------------------------------------------

def targets(cases: list[dict]) -> list[dict]:
    rows = [c for c in cases if "ours" in c]
    bare = next(c for c in cases if "bare" in c)
    out = []

    def add(name, value, limit, detail):
        out.append({"target": name, "value": value, "limit": limit,
                    "ok": None if value is None else value <= limit, "detail": detail})

    small = [c for c in rows if c["size"][0] * c["size"][1] <= 1_000_000 and not c["cap"]]
    for c in small:
        o, r = med(c["ours"], "seconds"), med(c["rembg"], "seconds")
        add(f"time ≤ 1 MP ({c['input']})", o / r if o and r else None, 1.0, "rembg_core / rembg")
    big = [c for c in rows if "24 MP" in c["input"]]
    unc = next((c for c in big if not c["cap"]), None)
    cap = next((c for c in big if c["cap"]), None)
    if unc:
        o, r = med(unc["ours"], "seconds"), med(unc["rembg"], "seconds")
        add("time 24 MP uncapped", o / r if o and r else None, 0.5, "rembg_core / rembg")
        o, r = med(unc["ours"], "growth"), med(unc["rembg"], "growth")
        add("peak growth 24 MP uncapped", o / r if o and r else None, 0.5, "rembg_core / rembg")
    if unc and cap:
        o, r = med(cap["ours"], "growth"), med(unc["rembg"], "growth")
        add("peak growth 24 MP capped 1600 vs rembg uncapped", o / r if o and r else None, 0.1,
            "rembg_core capped / rembg uncapped")
    b = med(bare["bare"], "seconds")
    for c in small:
        o = med(c["ours"], "seconds")
        add(f"remove vs bare session.run ({c['input']})", o / b if o and b else None, 1.10,
            "rembg_core remove / session.run")
    return out


# --- the other two parts ------------------------------------------------------------

def sweep_part(image: str, repeats: int) -> dict:
    from rembg_core.measure.sweep import sweep

    def progress(done, total, r):
        print(f"[sweep {done}/{total}] {r.config.name}: "
              + (f"{r.median_latency:.3f} s, retained {r.memory.retained / MB:.0f} MB" if r.ok else r.reason), flush=True)

    return sweep(image, "full", repeats=repeats, progress=progress).to_dict()


def idle_part(image: str) -> dict:
    from rembg_core import SessionConfig
    from rembg_core.measure.runner import run_idle_probe

    r = run_idle_probe(SessionConfig(), image, idle_after=2.0, burst=8)
    print(f"[idle] burst {r.burst_latency or 0:.3f} s, busy {r.busy_rss / MB:.0f} MB, idle {r.idle_rss / MB:.0f} MB"
          if r.ok else f"[idle] failed: {r.reason}", flush=True)
    return r.to_dict()


# --- markdown -----------------------------------------------------------------------

def fmt(v, spec=".3f", unit=""):
    return "—" if v is None else f"{v:{spec}}{unit}"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Run {m['date']} with `{report['command']}`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['os']}; Python {m['python']}, "
        f"onnxruntime {m['onnxruntime']}, numpy {m['numpy']}, Pillow {m['pillow']}, rembg {m['rembg']}. "
        f"Load average (1 min) {m['loadavg_start'][0]:.1f} at the start, {m['loadavg_end'][0]:.1f} at the end.",
        "",
        f"### rembg_core vs rembg (median of {report['runs']} fresh processes each; time = bytes in → RGBA image out)",
        "",
        "| input | pixels | cap | rembg_core s | rembg s | time ratio | rembg_core peak growth | rembg peak growth | peak ratio | spread (ours / rembg) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["compare"]:
        if "ours" not in c:
            continue
        o, r = med(c["ours"], "seconds"), med(c["rembg"], "seconds")
        og, rg = med(c["ours"], "growth"), med(c["rembg"], "growth")
        fails = sum(not x.get("ok") for x in c["ours"] + c["rembg"])
        so, sr = spread(c["ours"]), spread(c["rembg"])
        lines.append(
            f"| {c['input']} | {c['size'][0]}×{c['size'][1]} | {c['cap'] or '—'} | {fmt(o)} | {fmt(r)} | "
            f"{fmt(o / r if o and r else None, '.2f', '×')} | {fmt(og and og / MB, '.0f', ' MB')} | "
            f"{fmt(rg and rg / MB, '.0f', ' MB')} | {fmt(og / rg if og is not None and rg and rg >= 4 * MB else None, '.2f', '×')} | "
            f"{fmt(so, '.0%')} / {fmt(sr, '.0%')}{f' ({fails} failed)' if fails else ''} |")
    bare = next(c for c in report["compare"] if "bare" in c)
    lines += ["", f"Bare `session.run` on a ready 320×320 tensor: median {fmt(med(bare['bare'], 'seconds'))} s "
              f"(spread {fmt(spread(bare['bare']), '.0%')}).", "", "### Targets", "",
              "| target | measured | limit | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        met = "—" if t["ok"] is None else ("yes" if t["ok"] else "**no**")
        lines.append(f"| {t['target']} ({t['detail']}) | {fmt(t['value'], '.2f', '×')} | ≤ {t['limit']}× | {met} |")
    sw = report.get("sweep")
    if sw:
        lines += ["", f"### Session configs (`--configs full`), each in a fresh process ({Path(sw['image']).name}, "
                  f"{sw['warmups']} warm-ups + {sw['repeats']} repeats)", "",
                  "| config | s / image | spread | baseline | peak | retained (after − baseline) | after trim | release ratio | Pareto |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in sw["records"]:
            if not r["ok"]:
                lines.append(f"| {r['config']['name']} | failed: {r['reason']} | | | | | | | |")
                continue
            lines.append(
                f"| {r['config']['name']} | {fmt(r['median_latency'])} | {fmt(r['spread'], '.0%')} | "
                f"{r['baseline'] / MB:.0f} MB | {r['peak'] / MB:.0f} MB | {r['retained'] / MB:.0f} MB | "
                f"{r['after_trim'] / MB:.0f} MB | {fmt(r['release_ratio'], '.2f')} | {'yes' if r['pareto'] else ''} |")
        if report.get("sweep_note"):
            lines += ["", f"({report['sweep_note']})"]
        lines += ["", f"{sw['recommendation']}"] + [f"- warning: {w}" for w in sw["warnings"]]
    idle = report.get("idle")
    if idle and idle["ok"]:
        lines += ["", f"### Idle policy (IdleReleaser, idle_after={idle['idle_after']} s; arena on, pattern on)", "",
                  f"Burst of {len(idle['latencies'])} requests: median {fmt(idle['burst_latency'])} s "
                  f"(after the first two), RSS at the end of the burst {idle['busy_rss'] / MB:.0f} MB. "
                  f"After {idle['idle_wait']:.1f} s idle: {idle['releases']} release, RSS {idle['idle_rss'] / MB:.0f} MB "
                  f"(process baseline before any session {idle['baseline'] / MB:.0f} MB). "
                  f"First request after the idle spell (re-creates the session): {fmt(idle['first_after_idle'])} s."]
    elif idle:
        lines += ["", f"Idle policy probe failed: {idle['reason']}"]
    return "\n".join(lines)


def slim(report: dict) -> dict:
    """The saved results without the sweep's RSS timelines (they are in `bench --json` output)."""
    sw = report.get("sweep")
    if sw:
        report = dict(report, sweep=dict(sw, records=[dict(r, trace=None) for r in sw["records"]]))
    if report.get("idle"):
        report = dict(report, idle=dict(report["idle"], trace=None))
    return report


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        doc += f"\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> int:
    os.environ.pop("OMP_NUM_THREADS", None)  # rembg would turn it into thread counts; ORT's defaults for both
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per input and library (default 5)")
    ap.add_argument("--sizes", default="2,6,12,24", help="JPEG upscales to make, in megapixels")
    ap.add_argument("--fixtures", default=None, help="comma-separated fixture stems (default: all)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per process")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--sweep-json", default=None,
                    help="use a sweep saved by `python -m rembg_core bench --configs full --json F` instead of running one")
    ap.add_argument("--no-idle", action="store_true")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/BENCHMARKS.md")
    ap.add_argument("--print", action="store_true", help="print the markdown block")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "latest.json"))
    ap.add_argument("--render", metavar="JSON", default=None,
                    help="measure nothing: re-render the markdown from a saved results file")
    args = ap.parse_args()

    if args.render:
        report = json.loads(Path(args.render).read_text())
        if args.sweep_json:
            report["sweep"] = json.loads(Path(args.sweep_json).read_text())
            report["sweep_note"] = "sweep run separately: python -m rembg_core bench --configs full"
        Path(args.render).write_text(json.dumps(slim(report), indent=1))
        text = markdown(report)
        print(text) if (args.print or args.no_docs) else write_doc(text)
        return 0

    report = {"command": "python benchmarks/run_all.py " + " ".join(sys.argv[1:]), "runs": args.runs,
              "machine": machine()}
    report["command"] = report["command"].strip()
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, Python {m['python']}, "
          f"onnxruntime {m['onnxruntime']}, rembg {m['rembg']}, load average {m['loadavg_start'][0]:.1f}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rembg-lab-bench-") as tmp:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        fixtures = args.fixtures.split(",") if args.fixtures else None
        inputs = make_inputs(Path(tmp), fixtures, sizes)
        report["compare"] = compare(inputs, args.runs, args.timeout)
    report["targets"] = targets(report["compare"])
    sweep_image = str(PEER / "fixtures" / UPSCALE_SOURCE)
    if args.sweep_json:
        report["sweep"] = json.loads(Path(args.sweep_json).read_text())
    elif not args.no_sweep:
        report["sweep"] = sweep_part(sweep_image, repeats=max(args.runs, 3))
    if not args.no_idle:
        report["idle"] = idle_part(sweep_image)
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(slim(report), indent=1))
    text = markdown(report)
    if args.print or args.no_docs:
        print(text)
    if not args.no_docs:
        write_doc(text)
        print(f"wrote {DOC.relative_to(ROOT)} and {out}")
    for t in report["targets"]:
        print(f"target {t['target']}: {fmt(t['value'], '.2f', '×')} (limit {t['limit']}×) "
              f"{'—' if t['ok'] is None else ('met' if t['ok'] else 'MISSED')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
