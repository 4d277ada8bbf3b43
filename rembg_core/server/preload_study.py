"""`--preload` measured: the real service started with and without it, in interleaved rounds (on, off,
on, off, ...), each under the same bounded load on 127.0.0.1, the memory of every worker sampled from
/proc while the load runs, the server stopped after each run. Used by the claims check and the
Serving Lab; the verdict is rembg_core.load.compare's (per busy worker, never from one run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..load import LoadSpec, run_load
from ..load.compare import ServedRun, served_run
from ..load.tree import TreeSampler
from ..session import SessionConfig
from .process import ServerProcess, get_json

MAX_REQUESTS = 64  # per run: the study is bounded in requests, and each request in `timeout`
Progress = Callable[[int, int, str], None]


def serve_args(preload: bool, session: SessionConfig, workers: int = 2, max_size: int = 1600,
               max_inflight: int = 1, max_queue: int = 8) -> list[str]:
    s = session
    return ["--workers", str(workers), "--preload" if preload else "--no-preload", "--model", s.model,
            "--arena" if s.enable_cpu_mem_arena else "--no-arena",
            "--mem-pattern" if s.enable_mem_pattern else "--no-mem-pattern",
            *(["--arena-shrinkage"] if s.arena_shrinkage else []), "--threads", str(s.intra_op_num_threads),
            "--max-size", str(max_size), "--max-inflight", str(max_inflight), "--max-queue", str(max_queue)]


def one_run(label: str, preload: bool, session: SessionConfig, images: tuple[tuple[str, bytes], ...], *,
            workers: int = 2, clients: int = 4, requests: int = 8, max_size: int = 1600,
            timeout: float = 120) -> ServedRun:
    """Start the service, wait until every worker is ready, send `requests`, read each worker's memory
    throughout, stop the service. Raises RuntimeError (one line) when the server does not come up."""
    requests = min(requests, MAX_REQUESTS)
    server = ServerProcess(serve_args(preload, session, workers, max_size))
    try:
        server.start(wait="/readyz")
        assert server.proc is not None
        wait_all_ready(server, workers, timeout)
        with TreeSampler(server.proc.pid, interval=0.25, full=True) as sampler:
            result = run_load(LoadSpec(server.url + "/api/remove", images, clients, requests, timeout=timeout))
            memory = sampler.samples()
        pids = server.workers()
    finally:
        server.stop()
    return served_run(label, preload, result.samples, memory, pids)


def wait_all_ready(server: ServerProcess, workers: int, timeout: float) -> set[int]:
    """Poll /readyz on fresh connections until `workers` different worker pids have answered ready (a
    worker still loading its model accepts no connection), or `timeout` passes. Without this, a run
    without --preload starts while one worker is still loading, and the other serves every request."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers and time.monotonic() < deadline:
        status, body = get_json(server.url + "/readyz", timeout=5)
        if status == 200 and isinstance(body.get("pid"), int):
            seen.add(body["pid"])
        else:
            time.sleep(0.2)
    return seen


def preload_study(session: SessionConfig, images: tuple[tuple[str, bytes], ...], *, rounds: int = 2,
                  workers: int = 2, clients: int = 4, requests: int = 8, max_size: int = 1600,
                  timeout: float = 120, progress: Progress | None = None) -> list[ServedRun]:
    """`rounds` × (preload on, preload off), interleaved. A run whose server fails to start is left out
    (the comparison then says it has too few runs)."""
    runs: list[ServedRun] = []
    total = rounds * 2
    done = 0
    for r in range(rounds):
        for preload in (True, False):
            label = f"round {r + 1}"
            try:
                runs.append(one_run(label, preload, session, images, workers=workers, clients=clients,
                                    requests=requests, max_size=max_size, timeout=timeout))
            except RuntimeError:
                pass
            done += 1
            if progress:
                progress(done, total, f"{label}: {'--preload' if preload else '--no-preload'}")
    return runs


def study_images(paths: Sequence[str]) -> tuple[tuple[str, bytes], ...]:
    from pathlib import Path

    return tuple((Path(p).name, Path(p).read_bytes()) for p in paths)
