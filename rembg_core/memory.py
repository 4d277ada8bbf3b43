"""Process-memory primitives: RSS, the kernel's peak, handing freed memory back, and one value for
before / peak / after. A leaf: everything above (sessions, measuring, the service, the dashboard) may
import it; it imports nothing of the library."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import resource
from dataclasses import dataclass
from functools import cache

import psutil

MB = 1024 * 1024


def rss() -> int:
    """Resident set size of this process, in bytes."""
    return psutil.Process().memory_info().rss


@cache
def _libc_malloc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def release_ratio(before: int, peak: int, after: int) -> float | None:
    """(peak − after) / (peak − before): 1.0 gave it all back, 0.0 kept it all; None if RSS never rose."""
    if peak <= before:
        return None
    return (peak - after) / (peak - before)


@dataclass(frozen=True)
class TrimReport:
    rss_before: int
    rss_after: int
    collected: int  # objects gc found unreachable
    malloc_trim: bool  # whether glibc's malloc_trim ran

    @property
    def freed(self) -> int:
        return max(0, self.rss_before - self.rss_after)


def trim() -> TrimReport:
    """gc.collect() then glibc malloc_trim(0): hands freed heap pages back to the OS (no-op elsewhere)."""
    before = rss()
    collected = gc.collect()
    fn = _libc_malloc_trim()
    if fn is not None:
        fn(0)
    return TrimReport(before, rss(), collected, fn is not None)


def read_hwm() -> int | None:
    """The kernel's peak RSS for this process (VmHWM), in bytes; None off Linux."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_rss() -> int:
    """This process's peak RSS in bytes, read one way everywhere: VmHWM, and ru_maxrss only where /proc
    is missing (Linux carries ru_maxrss across fork+exec, so a child of a big parent would report the
    parent's size as its own peak)."""
    hwm = read_hwm()
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark (Linux ≥ 4.0: write 5 to /proc/self/clear_refs).

    After this, VmHWM is the exact peak since the reset, spikes between samples included.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class MemoryFigures:
    """RSS before a piece of work, at its peak and after it, in bytes; what every record embeds."""

    before: int
    peak: int
    after: int

    @property
    def growth(self) -> int:
        """peak − before: what the work needed on top of what was there."""
        return self.peak - self.before

    @property
    def retained(self) -> int:
        """after − before: what stayed once the work was done."""
        return self.after - self.before

    @property
    def release_ratio(self) -> float | None:
        return release_ratio(self.before, self.peak, self.after)

    def to_dict(self) -> dict:
        """The three readings and what follows from them (the derived ones are not read back)."""
        return {"before": self.before, "peak": self.peak, "after": self.after, "retained": self.retained,
                "growth": self.growth, "release_ratio": self.release_ratio}

    @classmethod
    def from_dict(cls, d: dict) -> MemoryFigures:
        return cls(int(d.get("before", 0)), int(d.get("peak", 0)), int(d.get("after", 0)))
