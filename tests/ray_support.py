"""Real Ray clusters for the distributed tests: small, loopback-only, always shut down.

Every fixture records the Ray processes that existed before it and, on teardown, waits until
every process it started is gone (and kills by pid any that outlive the wait, failing the test).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import psutil
import pytest

# Before ray is imported anywhere in the test process: no usage stats, loopback addresses only.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

ray = pytest.importorskip("ray", reason="ray[data] is not installed (requirements-dev.txt pins it)")

OBJECT_STORE = 80 * 1024 * 1024  # bytes per node; results are small PNGs
RAY_NAMES = ("raylet", "gcs_server", "ray::")


def ray_processes() -> set[int]:
    pids = set()
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            name = p.info["name"] or ""
            cmd = " ".join(p.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if name.startswith(RAY_NAMES) or "ray/_private/workers/default_worker.py" in cmd \
                or "ray/dashboard/agent.py" in cmd or "ray/_private/runtime_env/agent" in cmd:
            pids.add(p.pid)
    return pids


def wait_for_no_leftovers(before: set[int], timeout: float = 30.0, spare_ours: bool = False) -> set[int]:
    """Wait for Ray processes not in `before` to exit; kill by pid any still there. Returns those.

    `spare_ours`: leave alone this process's own descendants (a cluster a fixture keeps running)."""
    def left_now() -> set[int]:
        left = ray_processes() - before
        if spare_ours:
            left -= {c.pid for c in psutil.Process().children(recursive=True)}
        return left

    deadline = time.monotonic() + timeout
    while (left := left_now()) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    return left


@contextlib.contextmanager
def local_ray(num_cpus: int = 2) -> Iterator[str]:
    """A local single-node Ray in this process; yields its address for other drivers."""
    before = ray_processes()
    ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=OBJECT_STORE, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        left = wait_for_no_leftovers(before)
        assert not left, f"Ray processes outlived the cluster: {sorted(left)}"


@contextlib.contextmanager
def two_node_cluster() -> Iterator[str]:
    """ray.cluster_utils.Cluster: a head and one worker node, one CPU each, on this machine."""
    from ray.cluster_utils import Cluster

    before = ray_processes()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "object_store_memory": OBJECT_STORE})
    try:
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()
        left = wait_for_no_leftovers(before)
        assert not left, f"Ray processes outlived the cluster: {sorted(left)}"
