"""Which malloc a process runs: glibc (optionally tuned) or a preloaded jemalloc / mimalloc.

The allocator is the next memory lever after ONNX Runtime's arena: with the arena off, glibc keeps
freed pages that jemalloc and mimalloc return. A choice is applied to a *child* process through its
environment (`LD_PRELOAD`, `MALLOC_*`), never to the running one, and verified afterwards from the
child's own `/proc/PID/maps`: a requested allocator that is not mapped is an error, not a silent
glibc run. The libraries come from Debian (`libjemalloc2`, `libmimalloc2.0`; the Makefile installs them).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import RembgCoreError

LIBRARIES = {"jemalloc": "libjemalloc.so.2", "mimalloc": "libmimalloc.so.2"}
NAMES = ("glibc", *LIBRARIES)
SEARCH_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")
_MAPPED = re.compile(r"lib(jemalloc|mimalloc|tcmalloc)[\w.-]*\.so")


class AllocatorError(RembgCoreError):
    """An allocator that cannot be used here (not installed, unknown, not loaded)."""


@dataclass(frozen=True)
class AllocatorChoice:
    """glibc, jemalloc or mimalloc, with glibc's own knobs; frozen and hashable (part of a config)."""

    name: str = "glibc"
    arena_max: int | None = None  # MALLOC_ARENA_MAX: glibc's per-thread arenas (default 8 × cores)
    mmap_threshold: int | None = None  # MALLOC_MMAP_THRESHOLD_: blocks this large go to mmap, returned at free

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise AllocatorError(f"unknown allocator {self.name!r}; choose {', '.join(NAMES)}")
        if self.name != "glibc" and (self.arena_max or self.mmap_threshold):
            raise AllocatorError("MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ tune glibc only")

    @property
    def label(self) -> str:
        knobs = [f"MALLOC_ARENA_MAX={self.arena_max}"] if self.arena_max else []
        knobs += [f"MALLOC_MMAP_THRESHOLD_={self.mmap_threshold}"] if self.mmap_threshold else []
        return f"{self.name} ({', '.join(knobs)})" if knobs else self.name

    def env(self) -> dict[str, str]:
        """Environment variables that make a new process run this allocator; raises AllocatorError
        when the library is not installed."""
        env: dict[str, str] = {}
        if self.name in LIBRARIES:
            env["LD_PRELOAD"] = str(library_path(self.name))
        if self.arena_max:
            env["MALLOC_ARENA_MAX"] = str(self.arena_max)
        if self.mmap_threshold:
            env["MALLOC_MMAP_THRESHOLD_"] = str(self.mmap_threshold)
        return env

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (os.environ by default) without any inherited allocator settings, plus this choice's."""
        env = {k: v for k, v in (os.environ if base is None else base).items()
               if k not in ("LD_PRELOAD", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")}
        env.update(self.env())
        return env

    def to_dict(self) -> dict:
        return {"name": self.name, "arena_max": self.arena_max, "mmap_threshold": self.mmap_threshold}


def library_path(name: str) -> Path:
    """Where `name`'s shared library is; AllocatorError (one line) when it is not installed."""
    soname = LIBRARIES[name]
    for folder in SEARCH_DIRS:
        path = Path(folder) / soname
        if path.exists():
            return path
    package = {"jemalloc": "libjemalloc2", "mimalloc": "libmimalloc2.0"}[name]
    raise AllocatorError(f"{name} is not installed ({soname} not found); install Debian's {package}")


def available() -> dict[str, bool]:
    """Each allocator name → whether it can be used on this machine."""
    out = {}
    for name in NAMES:
        try:
            AllocatorChoice(name).env()
            out[name] = True
        except AllocatorError:
            out[name] = False
    return out


def active(pid: int | str = "self") -> str:
    """The allocator a running process actually uses, from its memory maps: jemalloc, mimalloc,
    tcmalloc, or glibc when none of them is mapped."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError as exc:
        raise AllocatorError(f"cannot read the memory maps of process {pid}: {exc.strerror}") from None
    found = _MAPPED.search(maps)
    return found.group(1) if found else "glibc"


def verify(choice: AllocatorChoice, pid: int | str = "self") -> str:
    """The allocator process `pid` runs; AllocatorError when it is not the one chosen."""
    running = active(pid)
    if running != choice.name:
        raise AllocatorError(f"asked for {choice.name} but the process runs {running}")
    return running
