"""Starting or joining a Ray cluster, and leaving it as found.

Ray is optional (`pip install -e .[ray]`): nothing here imports it until a job runs, and a
missing Ray is one typed error with the line to fix it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import RembgCoreError

INSTALL_HINT = "Ray is not installed; install the optional engine with: pip install -e .[ray]"


class RayUnavailableError(RembgCoreError):
    """Ray is not installed, or the cluster cannot be reached."""


def require_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (ray without the [data] extra lacks pyarrow/pandas)
    except ImportError:
        raise RayUnavailableError(INSTALL_HINT) from None
    return ray


def ray_available() -> bool:
    try:
        require_ray()
    except RayUnavailableError:
        return False
    return True


@dataclass(frozen=True)
class ClusterInfo:
    address: str  # the GCS address a driver can join with --address
    started_here: bool  # a local cluster this process started (and shuts down)
    cpus: int  # logical CPUs of the whole cluster
    nodes: int


@contextlib.contextmanager
def connect(address: str | None = None, *, num_cpus: int | None = None,
            object_store_mb: int | None = None) -> Iterator[ClusterInfo]:
    """Join `address` ("auto", "HOST:PORT", "ray://HOST:PORT"), or start a local cluster.

    A Ray already initialised in this process (a notebook, a test's shared cluster) is used
    as it is and left running. A local cluster started here is shut down on exit.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from the local cluster
    if not address:
        # A local cluster serves this machine only: its processes listen on 127.0.0.1 instead of
        # the routable address Ray picks otherwise (read when Ray is first imported).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1,
                         object_store_memory=object_store_mb * 1024 * 1024 if object_store_mb else None, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailableError(f"cannot {'join ' + address if address else 'start a local Ray'}: "
                                      f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        started = True
    try:
        resources = ray.cluster_resources()
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        try:
            gcs = ray.get_runtime_context().gcs_address
        except Exception:  # a Ray Client (ray://) connection has no GCS address of its own
            gcs = address or ""
        yield ClusterInfo(gcs, started and not address, int(resources.get("CPU", 0)), nodes)
    finally:
        if started:
            ray.shutdown()  # a joined cluster keeps running; this driver's connection ends
