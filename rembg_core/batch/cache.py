"""A result cache on disk: encoded cutouts keyed by what decides them.

The key is sha256(input bytes) + the removal options + the model file's checksum — hashing the
input alone (the article's md5) would hand back a mask made with other options or another model.

An entry is one file, written atomically (temp file + rename), so concurrent readers see the
old entry, the whole new one, or none. Each entry carries its payload's length and sha256, so
an empty, truncated or garbage file is detected, dropped and recomputed. Recency is the file's
mtime, bumped on every hit; when the total size passes the cap the oldest entries go first.
The cache never fails a request: an unwritable or full directory logs a warning and the
result is returned uncached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..limits import LIMITS

log = logging.getLogger(__name__)

MAGIC = b"RBLC1\n"  # Rembg Lab cache, layout 1
SUFFIX = ".entry"
DEFAULT_MAX_BYTES = LIMITS.cache_max_mb * 1024 * 1024
_HEAD = struct.Struct(">I")  # length of the JSON header that follows


@dataclass(frozen=True)
class CacheEntry:
    data: bytes  # the encoded result
    meta: dict[str, Any]  # what the writer stored alongside (size, format...)


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    writes: int
    evictions: int
    corrupt: int  # entries found damaged and dropped
    errors: int  # reads/writes the filesystem refused

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def options_fingerprint(options: Any) -> str:
    """Canonical JSON of the options: same options → same text, whatever the dict order."""
    if is_dataclass(options) and not isinstance(options, type):
        options = asdict(options)
    return json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(data: bytes, options: Any, model_checksum: str) -> str:
    """sha256 over the input's digest, the options and the model checksum."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(data).digest())
    h.update(b"\0" + options_fingerprint(options).encode())
    h.update(b"\0" + model_checksum.encode())
    return h.hexdigest()


def _pack(data: bytes, meta: dict[str, Any]) -> bytes:
    header = json.dumps({**meta, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()},
                        sort_keys=True).encode()
    return MAGIC + _HEAD.pack(len(header)) + header + data


def _unpack(blob: bytes) -> CacheEntry | None:
    """The entry, or None when the bytes are not a whole, intact entry."""
    start = len(MAGIC) + _HEAD.size
    if len(blob) < start or not blob.startswith(MAGIC):
        return None
    (n,) = _HEAD.unpack_from(blob, len(MAGIC))
    try:
        header = json.loads(blob[start:start + n])
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    data = blob[start + n:]
    if header.pop("length", None) != len(data) or header.pop("sha256", None) != hashlib.sha256(data).hexdigest():
        return None
    return CacheEntry(data, header)


class ResultCache:
    """Encoded results on disk under `directory`, at most about `max_bytes` of them."""

    def __init__(self, directory: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._counts = dict(hits=0, misses=0, writes=0, evictions=0, corrupt=0, errors=0)
        self._total: int | None = None  # bytes on disk, scanned lazily, then kept up to date
        self._warned: set[str] = set()

    # --- public -----------------------------------------------------------------

    def key(self, data: bytes, options: Any, model_checksum: str) -> str:
        return cache_key(data, options, model_checksum)

    def get(self, key: str) -> CacheEntry | None:
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return self._miss()
        except OSError as exc:
            self._warn("read", exc)
            self._count("errors")
            return self._miss()
        entry = _unpack(blob)
        if entry is None:
            log.warning("result cache: dropping damaged entry %s (%d bytes)", path.name, len(blob))
            self._count("corrupt")
            self._discard(path, len(blob))
            return self._miss()
        try:
            os.utime(path)  # recency for eviction; atime is unreliable (noatime, relatime)
        except OSError:
            pass  # evicted meanwhile, or a read-only cache: the hit still counts
        self._count("hits")
        return entry

    def put(self, key: str, data: bytes, meta: dict[str, Any] | None = None) -> bool:
        """Store; False (and a logged warning) when the filesystem refuses. Never raises OSError."""
        blob = _pack(data, meta or {})
        path = self._path(key)
        try:
            old = path.stat().st_size if path.exists() else 0
            atomic_write_bytes(path, blob)
        except OSError as exc:
            self._warn("write", exc)
            self._count("errors")
            return False
        self._count("writes")
        with self._lock:
            if self._total is not None:
                self._total += len(blob) - old
            over = self._total is None or self._total > self.max_bytes
        if over:
            self.evict()
        return True

    def evict(self, target: int | None = None) -> int:
        """Drop least recently used entries until the total is at most `target` (default: 90 % of the cap)."""
        explicit = target is not None
        target = target if explicit else int(self.max_bytes * 0.9)
        entries = []
        for path in self._entries():
            try:
                st = path.stat()
            except OSError:
                continue  # another process evicted it
            entries.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        removed = 0
        if explicit or total > self.max_bytes:
            entries.sort()
            for _, size, path in entries:
                if total <= target:
                    break
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self._warn("evict", exc)
                    break
                total -= size
        with self._lock:
            self._total = total
            self._counts["evictions"] += removed
        return removed

    def clear(self) -> int:
        return self.evict(target=0)

    def size_bytes(self) -> int:
        total = 0
        for path in self._entries():
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total

    def __len__(self) -> int:
        return sum(1 for _ in self._entries())

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(**self._counts)

    # --- internals ----------------------------------------------------------------

    def _path(self, key: str) -> Path:
        # two-level fan-out keeps directories small
        return self.directory / key[:2] / f"{key}{SUFFIX}"

    def _entries(self):
        try:
            subdirs = list(self.directory.iterdir())
        except OSError:
            return
        for sub in subdirs:
            try:
                names = list(sub.iterdir()) if sub.is_dir() else []
            except OSError:
                continue
            for path in names:
                if path.name.endswith(SUFFIX) and not path.name.startswith("."):
                    yield path
                elif path.name.endswith(".part") and _older_than(path, 3600):
                    path.unlink(missing_ok=True)  # a writer died mid-write long ago

    def _discard(self, path: Path, size: int) -> None:
        try:
            path.unlink()
        except OSError:
            return
        with self._lock:
            if self._total is not None:
                self._total -= size

    def _miss(self) -> CacheEntry | None:
        self._count("misses")
        return None

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _warn(self, action: str, exc: OSError) -> None:
        # once per kind of failure: a full disk would otherwise log on every image
        reason = f"{action}: {exc.strerror or exc}"
        if reason not in self._warned:
            self._warned.add(reason)
            log.warning("result cache %s unusable (%s); results are returned uncached", self.directory, reason)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False
