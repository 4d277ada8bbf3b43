"""Real Ray clusters for the distributed tests: small, loopback-only, always shut down.

Leftover checks look only at processes a test itself started (descendants of this process or
of a driver it ran): other Ray clusters on the machine (a benchmark, another engineer) are never
counted, waited for or touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest

# Before ray is imported anywhere in the test process: no usage stats, loopback addresses only.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

ray = pytest.importorskip("ray", reason="ray[data] is not installed (requirements-dev.txt pins it)")

OBJECT_STORE = 80 * 1024 * 1024  # bytes per node; results are small PNGs


def descendants(pid: int | None = None) -> set[int]:
    try:
        return {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def wait_gone(pids: set[int], timeout: float = 30.0) -> set[int]:
    """Wait for `pids` to exit; kill (by pid) any still alive after `timeout`. Returns those."""
    deadline = time.monotonic() + timeout
    while (alive := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.3)
    for pid in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    return alive


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def run_watched(cmd: list[str], timeout: float, **kwargs) -> tuple[subprocess.CompletedProcess, set[int]]:
    """Run a driver to completion; also return every process it started (sampled while it ran)."""
    seen: set[int] = set()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs) as proc:
        deadline = time.monotonic() + timeout
        out_err = None
        while out_err is None:
            seen |= descendants(proc.pid)
            try:
                out_err = proc.communicate(timeout=0.2)
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise
    return subprocess.CompletedProcess(cmd, proc.returncode, *out_err), seen


@contextlib.contextmanager
def _shut_down_checked(stop) -> Iterator[None]:
    try:
        yield
    finally:
        ours = descendants()  # the cluster's processes: started by this process, directly or not
        stop()
        left = wait_gone(ours)
        assert not left, f"Ray processes outlived the cluster: {sorted(left)}"


@contextlib.contextmanager
def local_ray(num_cpus: int = 2) -> Iterator[str]:
    """A local single-node Ray in this process; yields its address for other drivers."""
    ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=OBJECT_STORE, log_to_driver=False)
    with _shut_down_checked(ray.shutdown):
        yield ray.get_runtime_context().gcs_address


@contextlib.contextmanager
def two_node_cluster() -> Iterator[str]:
    """ray.cluster_utils.Cluster: a head and one worker node, one CPU each, on this machine."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "object_store_memory": OBJECT_STORE})

    def stop() -> None:
        ray.shutdown()
        cluster.shutdown()

    with _shut_down_checked(stop):
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster.address
