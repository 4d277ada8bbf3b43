"""SessionConfig → ONNX Runtime options, and a bounded, thread-safe cache of loaded sessions."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from . import models
from .errors import ModelChecksumError, ModelFetchError, ModelLoadError
from .gate import GATE
from .memory import trim

ort.set_default_logger_severity(3)  # ORT's warnings go to stderr unasked; errors still raise

GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class SessionConfig:
    """Everything that decides how a model is loaded and run. Frozen and hashable: it is a cache key."""

    model: str = models.DEFAULT_MODEL
    enable_cpu_mem_arena: bool = True
    enable_mem_pattern: bool = True
    arena_shrinkage: bool = False  # RunOptions memory.enable_memory_arena_shrinkage: give the arena back after each run
    intra_op_num_threads: int = 0  # 0 = ONNX Runtime decides (one per core)
    graph_optimization_level: str = "all"

    def __post_init__(self) -> None:
        models.get_spec(self.model)  # raises UnknownModelError with the known names
        if not self.enable_cpu_mem_arena and self.arena_shrinkage:
            # no arena, nothing to shrink (ORT refuses the run option); keep one canonical cache key
            object.__setattr__(self, "arena_shrinkage", False)
        if self.graph_optimization_level not in GRAPH_LEVELS:
            raise ValueError(f"graph_optimization_level must be one of {', '.join(GRAPH_LEVELS)}")
        if self.intra_op_num_threads < 0:
            raise ValueError("intra_op_num_threads must be >= 0")

    def session_options(self) -> ort.SessionOptions:
        so = ort.SessionOptions()
        so.enable_cpu_mem_arena = self.enable_cpu_mem_arena
        so.enable_mem_pattern = self.enable_mem_pattern
        so.intra_op_num_threads = self.intra_op_num_threads
        so.graph_optimization_level = GRAPH_LEVELS[self.graph_optimization_level]
        return so

    def run_options(self) -> ort.RunOptions | None:
        if not self.arena_shrinkage:
            return None
        ro = ort.RunOptions()
        ro.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return ro

    @property
    def flags_label(self) -> str:
        """The flags alone, e.g. "arena on, pattern off, shrink": what differs between configs of one model."""
        flags = [
            f"arena {'on' if self.enable_cpu_mem_arena else 'off'}",
            f"pattern {'on' if self.enable_mem_pattern else 'off'}",
        ]
        if self.arena_shrinkage:
            flags.append("shrink")
        if self.intra_op_num_threads:
            flags.append(f"{self.intra_op_num_threads} threads")
        if self.graph_optimization_level != "all":
            flags.append(f"graph {self.graph_optimization_level}")
        return ", ".join(flags)

    def label(self) -> str:
        return f"{self.model}: {self.flags_label}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SessionConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

@dataclass(frozen=True)
class ModelSession:
    """A loaded model: the ORT session plus what is needed to feed it. Shared; never mutated."""

    config: SessionConfig
    spec: models.ModelSpec
    inner: ort.InferenceSession = field(repr=False)
    input_name: str
    load_seconds: float

    def run(self, batch: np.ndarray, timings: dict[str, float] | None = None) -> np.ndarray:
        """(1, 3, S, S) float32 in, the first output out. ORT's run is thread-safe; at most
        `gate.GATE.capacity` run at once. With `timings`, adds the wait as timings["queue"]."""
        waited = GATE.acquire()
        try:
            if timings is not None:
                timings["queue"] = timings.get("queue", 0.0) + waited
            return self.inner.run(None, {self.input_name: batch}, self.config.run_options())[0]
        finally:
            GATE.release()


def load_session(config: SessionConfig) -> ModelSession:
    """Build a session, checking the file's hash first: ORT's own errors for a truncated or
    HTML file are bare exceptions that say nothing to a person."""
    spec = models.get_spec(config.model)
    path = models.verify(config.model)
    t0 = time.perf_counter()
    try:
        inner = ort.InferenceSession(str(path), sess_options=config.session_options(),
                                     providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises plain Exception subclasses
        raise ModelLoadError(f"ONNX Runtime could not load {path.name}: {str(exc).splitlines()[0]}") from exc
    return ModelSession(config, spec, inner, inner.get_inputs()[0].name, time.perf_counter() - t0)


# Distinct configs held at once by the process's cache; a u2netp session is about 10-20 MB before its
# arena grows, several hundred MB after.
CACHE_ENTRIES = 4


class SessionCache:
    """At most `max_entries` sessions, least recently used dropped first.

    One lock guards the map; a per-config lock makes concurrent first requests build a
    session once instead of once per thread.
    """

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._sessions: OrderedDict[SessionConfig, ModelSession] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[SessionConfig, threading.Lock] = {}

    def get(self, config: SessionConfig) -> ModelSession:
        with self._lock:
            if config in self._sessions:
                self._sessions.move_to_end(config)
                return self._sessions[config]
            build_lock = self._building.setdefault(config, threading.Lock())
        with build_lock:
            with self._lock:
                if config in self._sessions:
                    return self._sessions[config]
            session = load_session(config)
            with self._lock:
                self._sessions[config] = session
                self._building.pop(config, None)
                evicted = []
                while len(self._sessions) > self.max_entries:
                    evicted.append(self._sessions.popitem(last=False))
        if evicted:
            del evicted
            trim()
        return session

    def release(self, config: SessionConfig) -> bool:
        with self._lock:
            dropped = self._sessions.pop(config, None)
        if dropped is None:
            return False
        del dropped
        trim()
        return True

    def clear(self) -> int:
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
        trim()
        return count

    def configs(self) -> list[SessionConfig]:
        with self._lock:
            return list(self._sessions)


_cache = SessionCache()


def get_session(config: SessionConfig | None = None) -> ModelSession:
    """The shared session for `config`.

    A damaged model file is reported (ModelChecksumError) and removed; a missing one is fetched
    and verified — so the request after a damaged file finds a fresh, good copy.
    """
    config = config or SessionConfig()
    try:
        return _cache.get(config)
    except ModelChecksumError as exc:
        models.model_path(config.model).unlink(missing_ok=True)
        raise ModelChecksumError(f"{exc}; removed it, the next request fetches a fresh copy") from None
    except ModelFetchError:
        if models.model_path(config.model).exists():
            raise
        with _fetch_lock:  # one fetch however many requests arrive at once
            models.fetch(config.model)
        return _cache.get(config)


_fetch_lock = threading.Lock()


def release(config: SessionConfig) -> bool:
    return _cache.release(config)


def clear() -> int:
    return _cache.clear()


def cached_configs() -> list[SessionConfig]:
    return _cache.configs()


def is_cached(config: SessionConfig) -> bool:
    return config in _cache.configs()
