"""Serving under load: Rembg Lab's service (gunicorn + uvicorn workers) against `rembg s --no-ui`.

    .venv/bin/python benchmarks/serve_bench.py [--clients 1 4 16 64] [--after 60] [--json OUT]
    .venv/bin/python benchmarks/serve_bench.py --preload-study      # USS/PSS with and without --preload
    .venv/bin/python benchmarks/serve_bench.py --targets --repeats 3 # 16 clients × 64 requests, retrying 503s

Each cell (server × clients) starts a fresh server on 127.0.0.1, samples the RSS of its whole
process tree every 0.25 s, sends the load (peer-suite photos round-robin, rembg's multipart
request; clients wait Retry-After on a 503), then keeps sampling for `--after` seconds.
rembg runs with its default options on the same u2netp file (U2NET_HOME). Cells run interleaved
(rembg, ours 1 worker, ours 2 workers at each client count) so machine load hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rembg_core import models, samples  # noqa: E402
from rembg_core.load import LoadSpec, run_load  # noqa: E402
from rembg_core.load.tree import TreeSampler, measure  # noqa: E402
from rembg_core.measure import machine  # noqa: E402
from rembg_core.server.process import ServerProcess, free_port, get_json  # noqa: E402

MB = 1024 * 1024
IDLE = 20  # --idle-seconds for our servers: "back to post-start" is checked at IDLE + 5 s after the load
OURS = {  # the service's defaults: C = the worker's share of cores, 1 intra-op thread per run
    "ours, 1 worker": ["--workers", "1", "--idle-seconds", str(IDLE)],
    "ours, 2 workers": ["--workers", "2", "--idle-seconds", str(IDLE)],
    "ours, 1 worker, arena off": ["--workers", "1", "--no-arena", "--idle-seconds", str(IDLE)],
    "ours, 2 workers, arena off": ["--workers", "2", "--no-arena", "--idle-seconds", str(IDLE)],
    "ours, 1 worker, jemalloc": ["--workers", "1", "--allocator", "jemalloc", "--idle-seconds", str(IDLE)],
    "ours, 2 workers, jemalloc": ["--workers", "2", "--allocator", "jemalloc", "--idle-seconds", str(IDLE)],
    "ours, 1 worker, jemalloc, arena off": ["--workers", "1", "--allocator", "jemalloc", "--no-arena",
                                            "--idle-seconds", str(IDLE)],
    "ours, 1 worker, mimalloc": ["--workers", "1", "--allocator", "mimalloc", "--idle-seconds", str(IDLE)],
    "ours, 1 worker, mimalloc, arena off": ["--workers", "1", "--allocator", "mimalloc", "--no-arena",
                                            "--idle-seconds", str(IDLE)],
    # glibc's own sliding mmap threshold (the service's default fixes it at 128 KB)
    "ours, 1 worker, glibc sliding": ["--workers", "1", "--malloc-mmap-threshold", "0", "--idle-seconds", str(IDLE)],
    "ours, 1 worker, glibc sliding, arena off": ["--workers", "1", "--malloc-mmap-threshold", "0", "--no-arena",
                                                 "--idle-seconds", str(IDLE)],
    "ours, 1 worker, C=1": ["--workers", "1", "--max-inflight", "1", "--idle-seconds", str(IDLE)],  # 2 threads/run
    "ours, 1 worker, C=1 K=1": ["--workers", "1", "--max-inflight", "1", "--pipeline-threads", "0",
                                "--max-queue", "4", "--idle-seconds", str(IDLE)],  # the old shape
}


class RembgServer(ServerProcess):
    """`rembg s --no-ui` with its defaults, on the same model file."""

    def start(self, wait: str | None = "/api", timeout: float = 90.0) -> RembgServer:
        import tempfile

        self.log = tempfile.TemporaryFile()
        env = {**os.environ, "U2NET_HOME": str(models.models_dir()), "BROWSER": "true"}  # startup opens a browser
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "rembg"), "s", "--no-ui", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--log_level", "warning"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while get_json(self.url + "/openapi.json", timeout=2)[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rembg s did not come up: {self.output()[-1500:]}")
            time.sleep(0.3)
        return self


def photos(only: str | None = None) -> tuple[tuple[str, bytes], ...]:
    peer = samples.peer_suite()
    files = sorted((peer / "fixtures").glob(only or "*.jpg")) if peer else []
    if not files:
        sys.exit("rembg's peer-suite photos not found (set REMBG_LAB_PEER_SUITE)")
    return tuple((f.name, f.read_bytes()) for f in files)


def guard(server: ServerProcess, sampler: TreeSampler, limit_mb: float, tripped: list) -> None:
    """The machine is shared: kill a server whose tree passes `limit_mb` rather than let it swap or OOM."""
    while server.proc.poll() is None and not sampler._stop.is_set():
        samples = sampler.samples()
        if samples and samples[-1].rss / MB > limit_mb:
            tripped.append(samples[-1].rss / MB)
            server.proc.kill()
            return
        time.sleep(0.25)


def run_cell(name: str, clients: int, requests: int, after: float, limit_mb: float, photo: str | None = None,
             retry: bool = False) -> dict:
    server = RembgServer([]) if name == "rembg s" else ServerProcess(OURS[name])
    server.port = free_port()
    server.start(**({} if name == "rembg s" else {"wait": "/readyz"}))
    try:
        time.sleep(2)
        start = measure(server.pid, full=False)
        tripped: list[float] = []
        with TreeSampler(server.pid, interval=0.25, full=False) as sampler:
            threading.Thread(target=guard, args=(server, sampler, limit_mb, tripped), daemon=True).start()
            t_load = time.monotonic()
            result = run_load(LoadSpec(server.url + "/api/remove", photos(photo), clients, requests,
                                       fields=(("model", "u2netp"),), timeout=600, retry_503=retry))
            load_end = sampler.samples()[-1].t
            end = measure(server.pid, full=False)
            per_worker_idle = None
            deadline = time.monotonic() + after
            while time.monotonic() < deadline:
                if per_worker_idle is None and time.monotonic() - t_load - result.wall_seconds >= IDLE + 5:
                    per_worker_idle = {p.pid: p.rss for p in measure(server.pid, full=False).procs}
                time.sleep(0.5)
            later = measure(server.pid, full=False)
        alive = server.proc.poll() is None
    finally:
        server.stop()
    peak = max(s.rss for s in sampler.samples())
    peak_load = max((s.rss for s in sampler.samples() if s.t <= load_end + 0.5), default=peak)
    return {
        "server": name, "clients": clients, "requests": requests, **result.summary(), "photo": photo,
        "retry_503": retry, "attempts": sum(s.attempts for s in result.samples),
        "per_worker": {str(k): v for k, v in result.per_worker.items()},
        "rejected_without_retry_after": result.rejected_without_retry_after, "server_errors": result.server_errors,
        "rss_start_mb": start.rss / MB, "rss_peak_mb": peak / MB, "rss_peak_load_mb": peak_load / MB,
        "rss_end_mb": end.rss / MB, "rss_after_mb": later.rss / MB, "after_seconds": after, "alive": alive,
        "killed_by_guard_at_mb": tripped[0] if tripped else None,
        "workers_start_mb": {p.pid: p.rss / MB for p in start.procs if p.role == "worker"},
        "workers_idle_plus5_mb": {pid: v / MB for pid, v in (per_worker_idle or {}).items()},
    }


def preload_study(burst: int) -> list[dict]:
    """Per-worker USS/PSS and the tree's total PSS, after start and after a burst, 2 workers."""
    rows = []
    for arena in (True, False):
        for preload in (True, False):
            args = ["--workers", "2", "--threads", "1", "--max-queue", "16",
                    "--preload" if preload else "--no-preload", "--arena" if arena else "--no-arena"]
            with ServerProcess(args) as server:
                deadline = time.monotonic() + 60
                while get_json(server.url + "/readyz")[0] != 200 and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(3)
                for phase in ("after start", "after burst"):
                    if phase == "after burst":
                        run_load(LoadSpec(server.url + "/api/remove", photos(), 4, burst, timeout=600))
                        time.sleep(1)
                    tree = measure(server.pid, full=True)
                    workers = [p for p in tree.procs if p.role == "worker"]
                    master = [p for p in tree.procs if p.role == "master"][0]
                    rows.append({"arena": arena, "preload": preload, "phase": phase,
                                 "worker_uss_mb": [p.uss / MB for p in workers],
                                 "worker_pss_mb": [p.pss / MB for p in workers],
                                 "worker_rss_mb": [p.rss / MB for p in workers],
                                 "master_pss_mb": master.pss / MB, "master_rss_mb": master.rss / MB,
                                 "tree_pss_mb": tree.pss / MB, "tree_rss_mb": tree.rss / MB})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def soak(total: int, clients: int, chunk: int, warmup: int) -> dict:
    """`total` requests at `clients` after `warmup`, in chunks: worker RSS, fds, threads after each chunk;
    the server's TMPDIR is private, so any file left behind shows."""
    import tempfile

    import psutil

    with tempfile.TemporaryDirectory(prefix="serve-soak-") as tmp, \
            ServerProcess(OURS["ours, 1 worker"], env={"TMPDIR": tmp}) as server:
        while get_json(server.url + "/readyz")[0] != 200:
            time.sleep(0.2)
        worker = psutil.Process(server.workers()[0])
        spec = lambda n: LoadSpec(server.url + "/api/remove", photos(), clients, n, timeout=600)  # noqa: E731
        warm = run_load(spec(warmup))
        files_before = sorted(str(p) for p in Path(tmp).rglob("*"))
        points, statuses = [], dict(warm.status_counts)
        for done in range(0, total, chunk):
            result = run_load(spec(min(chunk, total - done)))
            for k, v in result.status_counts.items():
                statuses[k] = statuses.get(k, 0) + v
            points.append({"requests": done + len(result.samples), "rss_mb": worker.memory_info().rss / MB,
                           "fds": worker.num_fds(), "threads": worker.num_threads(),
                           "throughput": result.throughput, "p99": result.p99})
            print(json.dumps(points[-1]), flush=True)
        leftover = sorted(set(str(p) for p in Path(tmp).rglob("*")) - set(files_before))
        first, last = points[0]["rss_mb"], points[-1]["rss_mb"]
        return {"total": total, "clients": clients, "warmup": warmup, "points": points, "statuses": statuses,
                "drift": (last - first) / first, "fds": [points[0]["fds"], points[-1]["fds"]],
                "threads": [points[0]["threads"], points[-1]["threads"]], "new_temp_files": leftover,
                "worker_replaced": worker.pid not in server.workers()}


def targets(servers: list[str], repeats: int, photo: str, after: float, limit_mb: float, out: Path,
            meta: dict) -> list[dict]:
    """The issue's protocol: 16 clients × 64 requests of one photo, clients retry a 503 after its
    Retry-After, latency from first try to final answer; servers interleaved, `repeats` rounds, the
    starting server rotated each round."""
    cells = []
    for rnd in range(repeats):
        order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
        for name in order:
            cell = run_cell(name, 16, 64, after, limit_mb, photo=photo, retry=True)
            cell["round"], cell["load_avg"] = rnd, os.getloadavg()
            cells.append(cell)
            print(json.dumps({k: v for k, v in cell.items() if not k.startswith("workers")}), flush=True)
            out.write_text(json.dumps({"meta": meta, "cells": cells}, indent=1))
    return cells


def targets_report(data: dict) -> str:
    """Per round: each server beside rembg s of the same round, as ratios; then the medians."""
    import statistics

    cells = data["cells"]
    ref = {c["round"]: c for c in cells if c["server"] == "rembg s"}
    lines = ["| round | server | 200s | attempts | ok/s | p99 s (first try → answer) | peak tree RSS MB | "
             "ok/s ÷ rembg | p99 ÷ rembg | peak ÷ rembg | share of the busiest / idlest worker | load avg |",
             "|" + "---|" * 12]
    ratios: dict[str, dict[str, list[float]]] = {}
    for c in sorted(cells, key=lambda c: (c["round"], c["server"] != "rembg s", c["server"])):
        r = ref.get(c["round"])
        shares = sorted(c["per_worker"].values(), reverse=True)
        share = " / ".join(f"{v / max(1, sum(shares)):.0%}" for v in (shares[0], shares[-1])) if len(shares) > 1 else "–"
        row = {}
        if r and c is not r and c["p99"] and r["p99"]:
            row = {"ok/s": c["throughput"] / r["throughput"], "p99": c["p99"] / r["p99"],
                   "peak": c["rss_peak_mb"] / r["rss_peak_mb"]}
            for k, v in row.items():
                ratios.setdefault(c["server"], {}).setdefault(k, []).append(v)
        fmt = lambda k, row=row: f"{row[k]:.2f}" if k in row else "–"  # noqa: E731
        lines.append(f"| {c['round']} | {c['server']} | {c['status'].get('200', 0)} | {c['attempts']} | "
                     f"{c['throughput']:.2f} | {c['p99'] or 0:.1f} | {c['rss_peak_mb']:.0f} | {fmt('ok/s')} | "
                     f"{fmt('p99')} | {fmt('peak')} | {share} | {c['load_avg'][0]:.1f} |")
    lines += ["", "| server | ok/s ÷ rembg, median (min–max) | p99 ÷ rembg | peak ÷ rembg |", "|---|---|---|---|"]
    for name, d in ratios.items():
        cell = lambda k, d=d: f"{statistics.median(d[k]):.2f} ({min(d[k]):.2f}–{max(d[k]):.2f})"  # noqa: E731
        lines.append(f"| {name} | {cell('ok/s')} | {cell('p99')} | {cell('peak')} |")
    return "\n".join(lines)


def report(data: dict) -> str:
    """The BENCHMARKS.md table: each server's cell beside rembg's at the same client count, with ratios."""
    cells = data["cells"]
    ref = {c["clients"]: c for c in cells if c["server"] == "rembg s"}
    f = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
    lines = ["| clients | server | requests | status | ok/s | p50 s | p99 s | tree RSS start / peak / end / +60 s (MB) "
             "| peak ÷ rembg | ok/s ÷ rembg | p99 ÷ rembg | load avg |", "|" + "---|" * 12]
    for c in sorted(cells, key=lambda c: (c["clients"], c["server"] != "rembg s", c["server"])):
        r = ref.get(c["clients"])

        def ratio(k: str, c: dict = c, r: dict | None = r) -> str:
            return f(c[k] / r[k]) if r and r.get(k) and c.get(k) is not None else "–"
        status = ", ".join(f"{k}: {v}" for k, v in c["status"].items())
        if c.get("killed_by_guard_at_mb"):
            status += f" (killed by the {c['killed_by_guard_at_mb']:.0f} MB guard)"
        lines.append(f"| {c['clients']} | {c['server']} | {c['requests']} | {status} | {f(c['throughput'])} "
                     f"| {f(c['p50'], 1)} | {f(c['p99'], 1)} | {c['rss_start_mb']:.0f} / {c['rss_peak_mb']:.0f} / "
                     f"{c['rss_end_mb']:.0f} / {c['rss_after_mb']:.0f} | {ratio('rss_peak_mb')} | "
                     f"{ratio('throughput')} | {ratio('p99')} | {c['load_avg'][0]:.1f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--after", type=float, default=60.0, help="seconds of sampling after the load")
    ap.add_argument("--servers", nargs="+", default=["rembg s", "ours, 1 worker", "ours, 2 workers"],
                    choices=["rembg s", *OURS])
    ap.add_argument("--guard-gb", type=float, default=12.0, help="kill a server whose tree RSS passes this")
    ap.add_argument("--preload-study", action="store_true")
    ap.add_argument("--targets", action="store_true", help="16 clients × 64 requests of one photo, retrying 503s")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--photo", default="anime-girl-1.jpg", help="peer-suite photo for --targets")
    ap.add_argument("--burst", type=int, default=16)
    ap.add_argument("--soak", type=int, default=0, metavar="N", help="N requests at 8 clients after a warm-up")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "serve.json"))
    ap.add_argument("--report", metavar="JSON", help="print the markdown table of a saved run and exit")
    args = ap.parse_args()
    if args.report:
        data = json.loads(Path(args.report).read_text())
        print(targets_report(data) if data["cells"] and "round" in data["cells"][0] else report(data))
        return 0
    meta = {"machine": machine.summary(),
            "load_avg_start": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    out = Path(args.json)
    if args.soak:
        result = soak(args.soak, 8, max(1, args.soak // 10), 100)
        meta["load_avg_end"] = os.getloadavg()
        out.with_name(out.stem + "-soak.json").write_text(json.dumps({"meta": meta, **result}, indent=1))
        print(json.dumps({k: v for k, v in result.items() if k != "points"}))
        return 0
    if args.targets:
        out = out.with_name(out.stem + "-targets.json")
        cells = targets(args.servers, args.repeats, args.photo, args.after, args.guard_gb * 1024, out, meta)
        meta["load_avg_end"] = os.getloadavg()
        out.write_text(json.dumps({"meta": meta, "cells": cells}, indent=1))
        print(targets_report({"meta": meta, "cells": cells}))
        return 0
    if args.preload_study:
        rows = preload_study(args.burst)
        meta["load_avg_end"] = os.getloadavg()
        out = out.with_name(out.stem + "-preload.json")
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        return 0
    cells = []
    for i, clients in enumerate(args.clients):
        requests = max(16, 4 * clients) if clients < 64 else 2 * clients
        order = args.servers[i % len(args.servers):] + args.servers[:i % len(args.servers)]  # rotate who goes first
        for name in order:
            cell = run_cell(name, clients, requests, args.after, args.guard_gb * 1024)
            cell["load_avg"] = os.getloadavg()
            cells.append(cell)
            print(json.dumps({k: v for k, v in cell.items() if not k.startswith("workers")}), flush=True)
            out.write_text(json.dumps({"meta": meta, "cells": cells}, indent=1))
    meta["load_avg_end"] = os.getloadavg()
    out.write_text(json.dumps({"meta": meta, "cells": cells}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
