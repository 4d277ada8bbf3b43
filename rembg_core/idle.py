"""Fast when busy, small when idle: drop a session after it has been idle for a while.

ONNX Runtime's CPU arena makes inference faster but keeps everything it ever grew to. Dropping
the session frees the arena (and trim() hands the pages back to the OS); u2netp loads again
in about 0.1 s, so the first request after a quiet spell pays that once and the next burst
runs at arena speed again.

    policy = IdleReleaser(idle_after=30)
    with policy.lease(config) as session:      # marks the config busy while the run lasts
        result = remove(data, session=session)

One timer thread serves every config; a config in use (an open lease) is never released.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from . import session as sessions
from .memory import rss
from .session import ModelSession, SessionConfig


@dataclass(frozen=True)
class ReleaseEvent:
    config: SessionConfig
    at: float  # time.monotonic() when it happened
    idle_seconds: float
    rss_before: int
    rss_after: int

    @property
    def freed(self) -> int:
        return max(0, self.rss_before - self.rss_after)


class IdleReleaser:
    """Releases each config's session once it has gone `idle_after` seconds without a lease.

    `get` and `release` default to the shared session cache (session.get_session/release, which
    trims after dropping); pass others to manage a different cache.
    """

    def __init__(self, idle_after: float = 30.0, *,
                 get: Callable[[SessionConfig], ModelSession] = sessions.get_session,
                 release: Callable[[SessionConfig], bool] = sessions.release,
                 on_release: Callable[[ReleaseEvent], None] | None = None) -> None:
        if idle_after <= 0:
            raise ValueError("idle_after must be positive (seconds)")
        self.idle_after = idle_after
        self._get, self._release, self._on_release = get, release, on_release
        self._cond = threading.Condition()
        self._last_used: dict[SessionConfig, float] = {}  # configs we may release, by last use
        self._active: dict[SessionConfig, int] = {}
        self._events: list[ReleaseEvent] = []
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="idle-releaser", daemon=True)
        self._thread.start()

    # -- use
    @contextmanager
    def lease(self, config: SessionConfig | None = None) -> Iterator[ModelSession]:
        """The session for `config`, held busy (never released) until the block ends."""
        config = config or SessionConfig()
        with self._cond:
            self._active[config] = self._active.get(config, 0) + 1
            self._last_used[config] = time.monotonic()
        try:
            yield self._get(config)
        finally:
            with self._cond:
                self._active[config] -= 1
                if not self._active[config]:
                    del self._active[config]
                self._last_used[config] = time.monotonic()
                self._cond.notify_all()

    def get(self, config: SessionConfig | None = None) -> ModelSession:
        """The session, counting this as use. Callers who run long should prefer lease()."""
        config = config or SessionConfig()
        self.touch(config)
        session = self._get(config)
        self.touch(config)  # a slow first load is not idle time
        return session

    def touch(self, config: SessionConfig) -> None:
        with self._cond:
            self._last_used[config] = time.monotonic()
            self._cond.notify_all()

    # -- state
    @property
    def releases(self) -> int:
        with self._cond:
            return len(self._events)

    def events(self) -> list[ReleaseEvent]:
        with self._cond:
            return list(self._events)

    def watched(self) -> list[SessionConfig]:
        """Configs that have been used and not yet released."""
        with self._cond:
            return list(self._last_used)

    def idle_seconds(self, config: SessionConfig) -> float | None:
        with self._cond:
            if config in self._active:
                return 0.0
            last = self._last_used.get(config)
        return None if last is None else time.monotonic() - last

    def close(self) -> None:
        """Stop the timer thread (sessions are left as they are)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def __enter__(self) -> IdleReleaser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the timer
    def _due(self, now: float) -> tuple[list[SessionConfig], float | None]:
        """Configs idle past the limit, and how long until the next one is due."""
        due, wait = [], None
        for config, last in self._last_used.items():
            if config in self._active:
                continue
            left = last + self.idle_after - now
            if left <= 0:
                due.append(config)
            else:
                wait = left if wait is None else min(wait, left)
        return due, wait

    def _watch(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                due, wait = self._due(time.monotonic())
                if not due:
                    self._cond.wait(timeout=wait)
                    continue
                now = time.monotonic()
                picked = []
                for config in due:
                    picked.append((config, now - self._last_used.pop(config)))
            # Outside the lock: release trims, which takes a moment. A lease that starts in this
            # gap still gets a working session (the caller's reference keeps it alive); it is only
            # evicted from the cache, and the next lease builds a fresh one.
            for config, idle in picked:
                before = rss()
                self._release(config)
                event = ReleaseEvent(config, time.monotonic(), idle, before, rss())
                with self._cond:
                    self._events.append(event)
                if self._on_release:
                    self._on_release(event)
