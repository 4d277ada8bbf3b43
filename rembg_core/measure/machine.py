"""Machine facts, collected one way for every measurement: the children's metadata, claims runs and
the benchmark scripts all record the same fields under the same names."""

from __future__ import annotations

import os
import platform
import socket
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import psutil

PACKAGES = ("onnxruntime", "numpy", "pillow", "rembg")  # rembg: the peer, when installed


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpus_usable() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions by distribution name; "not installed" for a missing one."""
    out = {}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def summary() -> str:
    """One line for a page or a table caption: CPU, cores, memory, Python."""
    return (f"{cpu_model()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 1024 ** 3:.0f} GiB, "
            f"Python {platform.python_version()}")


def facts() -> dict:
    """Where and on what a measurement ran, and how busy the machine was when this was called."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "host": socket.gethostname(),
        "summary": summary(), "processor": cpu_model(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "cpus_usable": cpus_usable(), "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(), "python": platform.python_version(), "versions": versions(),
        "loadavg": loadavg(),
    }
