"""Hostile clients against Rembg Lab's service and `rembg s --no-ui`, counted side by side.

    .venv/bin/python benchmarks/hostile_clients.py [--seconds 60] [--uploads 20] [--json OUT]

Scenarios, each on a fresh server on 127.0.0.1 (ours with its defaults, 1 worker; rembg with its own),
interleaved (ours, rembg, ours, rembg ...) so machine load hits both alike:

- header-only: 10 connections send a request head announcing a body and then nothing (each reopened
  when the server closes it) while 2 clients make `--uploads` real uploads: how many get 200;
- fairness: 64 clients for `--seconds`, each waiting out Retry-After on a 503: how many clients never
  get a 200 (rembg s only with --rembg-fairness: its pool runs up to 40 requests at once);
- million fields: a multipart body of 1,000,000 tiny fields: the status, and how much was sent
  before the server answered;
- malformed: a garbage request line: the status and whether the body is one line of JSON.

Counts only; wall times are printed for orientation and depend on the machine's load.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import select
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rembg_core import samples  # noqa: E402
from rembg_core.load import LoadRun, LoadSpec  # noqa: E402
from rembg_core.server.process import ServerProcess  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from serve_bench import RembgServer  # noqa: E402

HEAD_ONLY = 10


def photo() -> tuple[str, bytes]:
    peer = samples.peer_suite()
    files = sorted((peer / "fixtures").glob("*.jpg")) if peer else []
    if files:
        return files[0].name, files[0].read_bytes()
    buf = io.BytesIO()
    samples.apple_scene((640, 480)).save(buf, "PNG")
    return "apple.png", buf.getvalue()


def head(port: int, length: int) -> bytes:
    return (b"POST /api/remove HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\n\r\n" % (port, length))


def header_only(server: ServerProcess, image: tuple[str, bytes], uploads: int) -> dict:
    stop = threading.Event()
    closed_by_server = [0]

    def attacker() -> None:
        socks: list[socket.socket] = []
        try:
            while not stop.is_set():
                while len(socks) < HEAD_ONLY:
                    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                    s.sendall(head(server.port, 200_000))
                    socks.append(s)
                for s in select.select(socks, [], [], 0.2)[0]:
                    closed_by_server[0] += 1
                    s.close()
                    socks.remove(s)
        finally:
            for s in socks:
                s.close()

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    time.sleep(1.0)
    try:
        result = LoadRun(LoadSpec(server.url + "/api/remove", (image,), concurrency=2, requests=uploads,
                                  fields=(("model", "u2netp"),), timeout=120)).start().wait()
    finally:
        stop.set()
        thread.join(30)
    return {"uploads": uploads, "ok": result.ok, "status": result.status_counts,
            "head_only_closed_by_server": closed_by_server[0], "seconds": round(result.wall_seconds, 1)}


def fairness(server: ServerProcess, image: tuple[str, bytes], seconds: float) -> dict:
    spec = LoadSpec(server.url + "/api/remove", (image,), concurrency=64, requests=None, duration=seconds,
                    fields=(("model", "u2netp"),), timeout=120)
    result = LoadRun(spec).start().wait()
    return {"clients": 64, "seconds": seconds, "requests": len(result.samples), "ok": result.ok,
            "status": result.status_counts, "starved_clients": result.starved_clients}


def million_fields(server: ServerProcess) -> dict:
    part = b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n"
    chunk, total, sent = part * 2000, len(part) * 1_000_000 + 7, 0
    t0 = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        sock.sendall(head(server.port, total))
        while sent < total - len(chunk) and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        if sent >= total - len(chunk):
            sock.sendall(b"--b--\r\n")
        sock.settimeout(300)
        try:
            answer = sock.recv(4096)
        except OSError:
            pass
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/") else 0
    return {"status": status, "sent_mb": round(sent / 1e6, 1), "body_mb": round(total / 1e6, 1),
            "seconds": round(time.monotonic() - t0, 1)}


def malformed(server: ServerProcess) -> dict:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        raw = b""
        try:
            while chunk := sock.recv(65536):
                raw += chunk
        except OSError:
            pass
    head_text, _, body = raw.partition(b"\r\n\r\n")
    try:
        json_line = isinstance(json.loads(body), dict) and body.rstrip(b"\n").count(b"\n") == 0
    except ValueError:
        json_line = False
    status = int(head_text.split()[1]) if head_text.startswith(b"HTTP/") else 0
    return {"status": status, "one_line_json": json_line, "body": body[:80].decode("utf-8", "replace")}


def run(name: str, scenario: str, args: argparse.Namespace, image: tuple[str, bytes]) -> dict:
    server = RembgServer([]) if name == "rembg s" else ServerProcess(["--workers", "1"])
    server.start(**({} if name == "rembg s" else {"wait": "/readyz"}))
    try:
        if scenario == "header-only":
            out = header_only(server, image, args.uploads)
        elif scenario == "fairness":
            out = fairness(server, image, args.seconds)
        elif scenario == "million fields":
            out = million_fields(server)
        else:
            out = malformed(server)
        out["alive"] = server.proc.poll() is None
    finally:
        server.stop()
    return {"server": name, "scenario": scenario, **out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="fairness run length")
    ap.add_argument("--uploads", type=int, default=20, help="real uploads during the header-only attack")
    ap.add_argument("--scenarios", nargs="+", default=["header-only", "fairness", "million fields", "malformed"])
    ap.add_argument("--rembg-fairness", action="store_true",
                    help="also run 64 clients against rembg s (its pool runs up to 40 at once: several GB)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    image = photo()
    print(f"# {image[0]} ({len(image[1]) // 1024} KB); load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for scenario in args.scenarios:
        for name in ("ours, 1 worker", "rembg s"):
            if name == "rembg s" and scenario == "fairness" and not args.rembg_fairness:
                continue
            row = run(name, scenario, args, image)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "image": image[0]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
