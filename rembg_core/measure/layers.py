"""Resident memory split into the layers that can be measured, each saying how it was measured.

RSS here is one reading of /proc/self/smaps_rollup, and every layer is measured on its own:

- code and mapped files: resident file-backed pages (Python, ONNX Runtime, numpy, Pillow libraries),
  smaps_rollup Rss − Anonymous; this stays for the life of the process;
- model weights: the ONNX file's size for each session held (ORT keeps one copy of the initializers
  per session);
- ORT arena: measured in fresh processes, the same config and image with the arena on and off
  (ONNX Runtime's Python API exposes no arena statistics), per arena-on session held;
- Python heap: tracemalloc's traced bytes (Python objects and numpy buffers), less what the media
  storage layer counts; its own bookkeeping is a layer of its own;
- allocator free-but-held: freed memory glibc keeps resident, measured exactly without touching this
  process: a forked copy runs malloc_trim(0) and reports how much its RSS fell;
- Streamlit media storage: the server's own /_stcore/metrics figure, passed in by the page;
- unattributed: RSS minus all of the above (negative when a layer over-counts, e.g. an arena measured
  on a bigger image than this process saw).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import tracemalloc
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from ..allocator import active
from ..memory import MB

MEDIA_METRIC = re.compile(
    r'^cache_memory_bytes\{[^}]*cache_type="st_memory_media_file_storage"[^}]*\}\s+([0-9.eE+]+)\s*$', re.M)


@dataclass(frozen=True)
class Layer:
    name: str
    bytes: int | None  # None: not measured here (then `how` says why)
    how: str
    stays: bool = False  # Release cannot give it back (code, the runtime)

    @property
    def mb(self) -> float | None:
        return None if self.bytes is None else self.bytes / MB

    def to_dict(self) -> dict:
        return {"name": self.name, "bytes": self.bytes, "how": self.how, "stays": self.stays}


UNATTRIBUTED = "unattributed"


@dataclass(frozen=True)
class LayerSplit:
    where: str  # "the dashboard server" or "a fresh child process"
    rss: int  # smaps_rollup Rss at the moment of the split
    layers: tuple[Layer, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def attributed(self) -> int:
        return sum(layer.bytes or 0 for layer in self.layers)

    @property
    def unattributed(self) -> int:
        return self.rss - self.attributed

    def all_layers(self) -> tuple[Layer, ...]:
        """The measured layers and the remainder, which together add up to `rss` exactly."""
        return (*self.layers, Layer(UNATTRIBUTED, self.unattributed,
                                    "RSS − every layer above: what no measurement here accounts for"))

    def get(self, name: str) -> int | None:
        return next((layer.bytes for layer in self.all_layers() if layer.name == name), None)

    def rows(self) -> list[dict]:
        return [{"layer": layer.name, "MB": None if layer.bytes is None else round(layer.bytes / MB, 1),
                 "share_pct": None if layer.bytes is None or not self.rss else round(100 * layer.bytes / self.rss, 1),
                 "how it was measured": layer.how} for layer in self.all_layers()]

    def to_dict(self) -> dict:
        return {"where": self.where, "rss": self.rss, "layers": [layer.to_dict() for layer in self.all_layers()],
                "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict) -> LayerSplit:
        layers = tuple(Layer(x["name"], x["bytes"], x["how"], bool(x.get("stays")))
                       for x in d["layers"] if x["name"] != UNATTRIBUTED)
        return cls(d["where"], int(d["rss"]), layers, tuple(d.get("notes") or ()))


# --- the measurements --------------------------------------------------------------------

def smaps_rollup(pid: int | str = "self") -> dict[str, int]:
    """/proc/PID/smaps_rollup as bytes per field (Rss, Pss, Anonymous, ...); {} where it is missing."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    except OSError:
        return {}
    return out


@cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        fn = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def _statm_rss() -> int:
    fd = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        return int(os.read(fd, 128).split()[1]) * os.sysconf("SC_PAGE_SIZE")
    finally:
        os.close(fd)


def free_held() -> int | None:
    """Bytes glibc holds freed but resident: a fork of this process (copy-on-write, so this one is not
    touched) runs malloc_trim(0) and reports its RSS before and after. None for jemalloc/mimalloc or
    where fork or malloc_trim is missing. glibc makes malloc safe across fork; the child calls nothing else."""
    fn = _malloc_trim()
    if fn is None or not hasattr(os, "fork") or active() != "glibc":
        return None
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: the child only trims and exits
        pid = os.fork()
    if pid == 0:  # the child: no Python-level work beyond these calls
        try:
            before = _statm_rss()
            fn(0)
            os.write(write_fd, f"{before} {_statm_rss()}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        raw = os.read(read_fd, 128)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    try:
        before, after = map(int, raw.split())
    except ValueError:
        return None
    return max(0, before - after)


def python_heap() -> tuple[int, int] | None:
    """(traced bytes, tracemalloc's own bookkeeping), or None when tracemalloc is not tracing."""
    if not tracemalloc.is_tracing():
        return None
    return tracemalloc.get_traced_memory()[0], tracemalloc.get_tracemalloc_memory()


def media_bytes(metrics_text: str) -> int | None:
    """Streamlit's media file storage in bytes, from its /_stcore/metrics text; None when not reported."""
    values = [float(v) for v in MEDIA_METRIC.findall(metrics_text)]
    return int(sum(values)) if values else None


def model_bytes(path: str | os.PathLike) -> int:
    return os.path.getsize(path)


# --- the split ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HeldSession:
    """A session this process holds: its label, its model file's size and, when measured, its arena."""

    label: str
    weights: int
    arena_on: bool
    arena: int | None = None  # bytes, from fresh processes (arena on − arena off), None when not measured
    arena_how: str = ""


def split(where: str, sessions: Sequence[HeldSession] = (), media: int | None = None,
          media_how: str = "", trace_python: bool = True) -> LayerSplit:
    """This process's RSS, layer by layer (see the module's docstring)."""
    free = free_held()  # first: the fork is cheapest before anything else is read
    roll = smaps_rollup()
    rss = roll.get("Rss", 0)
    anon = roll.get("Anonymous", 0)
    layers = [Layer("code and mapped files", rss - anon if roll else None,
                    "resident file-backed pages: /proc/self/smaps_rollup Rss − Anonymous (libraries, the Python "
                    "runtime, mapped files)", stays=True)]
    layers.append(Layer("model weights", sum(s.weights for s in sessions),
                        f"ONNX file size × sessions held ({len(sessions)}): ORT keeps one copy of the initializers "
                        "per session"))
    on = [s for s in sessions if s.arena_on]
    measured = [s for s in on if s.arena is not None]
    if not on:
        layers.append(Layer("ORT arena", 0, "no session with the arena on is held"))
    else:
        how = "; ".join(s.arena_how for s in measured) or ""
        missing = len(on) - len(measured)
        if missing:
            how += (("; " if how else "") + f"{missing} arena-on session(s) not measured: their arena is in "
                    "the unattributed remainder")
        layers.append(Layer("ORT arena", sum(s.arena or 0 for s in measured) if measured else None, how))
    heap = python_heap() if trace_python else None
    media_part = media or 0
    if heap is None:
        layers.append(Layer("Python heap", None, "tracemalloc is not tracing in this process"))
    else:
        traced, overhead = heap
        layers.append(Layer("Python heap", max(0, traced - media_part),
                            "tracemalloc: traced bytes of Python objects and numpy buffers"
                            + (", less the media storage below" if media_part else "")))
        layers.append(Layer("tracemalloc bookkeeping", overhead, "tracemalloc.get_tracemalloc_memory()"))
    if media is not None or media_how:
        layers.append(Layer("Streamlit media storage", media, media_how or "Streamlit's /_stcore/metrics"))
    layers.append(Layer("allocator free-but-held", free,
                        "a fork of this process runs glibc malloc_trim(0); its RSS drop is what glibc holds freed"
                        if free is not None else f"not measured: the process runs {active()}, not glibc"))
    return LayerSplit(where, rss, tuple(layers))


def held_sessions(configs: Sequence, arena: Mapping | None = None) -> list[HeldSession]:
    """HeldSession for each SessionConfig, with arena figures from `arena` (config → (bytes, how))."""
    from .. import models

    out = []
    for cfg in configs:
        try:
            weights = model_bytes(models.model_path(cfg.model))
        except OSError:
            weights = 0
        got = (arena or {}).get(cfg)
        out.append(HeldSession(cfg.flags_label, weights, cfg.enable_cpu_mem_arena,
                               got[0] if got else None, got[1] if got else ""))
    return out


@dataclass(frozen=True)
class Released:
    """What Release gave back, per layer, and what stays."""

    before: LayerSplit
    after: LayerSplit

    def rows(self) -> list[dict]:
        out = []
        for layer in self.before.all_layers():
            a, b = layer.bytes, self.after.get(layer.name)
            gave = None if a is None or b is None else a - b
            out.append({"layer": layer.name, "before MB": None if a is None else round(a / MB, 1),
                        "after MB": None if b is None else round(b / MB, 1),
                        "given back MB": None if gave is None else round(gave / MB, 1),
                        "stays": "stays for the life of the process" if layer.stays else ""})
        return out

    @property
    def freed(self) -> int:
        return self.before.rss - self.after.rss
