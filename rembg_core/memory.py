"""Process memory: resident set size and giving freed memory back to the OS."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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
