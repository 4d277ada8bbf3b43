"""What a long-lived process (the dashboard server) holds per session config: arenas measured for it,
and which visitors use it. Process-wide and thread-safe; the sidebar and the layer split read it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ..memory import MB
from ..session import SessionConfig, cached_configs
from .layers import HeldSession, held_sessions

VISITOR_WINDOW = 600.0  # s: a visitor who used a config within this long counts as sharing it


class Holdings:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arenas: dict[SessionConfig, tuple[int, str]] = {}
        self._visits: dict[SessionConfig, dict[str, float]] = {}

    def note_visit(self, config: SessionConfig, visitor: str) -> None:
        with self._lock:
            self._visits.setdefault(config, {})[visitor] = time.monotonic()

    def visitors(self, config: SessionConfig) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(now - t < VISITOR_WINDOW for t in self._visits.get(config, {}).values())

    def note_arena(self, config: SessionConfig, arena: tuple[int, str]) -> None:
        with self._lock:
            self._arenas[config] = arena

    def arenas(self) -> dict[SessionConfig, tuple[int, str]]:
        with self._lock:
            return dict(self._arenas)

    def held(self) -> list[HeldSession]:
        """The sessions the library's cache holds now, with the arenas measured for their configs."""
        return held_sessions(cached_configs(), self.arenas())

    def summary(self) -> list[SessionLine]:
        out = []
        for cfg, held in zip(cached_configs(), self.held()):
            out.append(SessionLine(cfg.flags_label, cfg.model, held.weights, held.arena, held.arena_on,
                                   self.visitors(cfg)))
        return out


@dataclass(frozen=True)
class SessionLine:
    flags: str
    model: str
    weights: int
    arena: int | None  # measured in fresh processes for this config, None when not measured
    arena_on: bool
    visitors: int

    @property
    def text(self) -> str:
        if not self.arena_on:
            arena = "arena off"
        elif self.arena is None:
            arena = "arena not measured yet (Memory Lab, layers)"
        else:
            arena = f"arena {self.arena / MB:.0f} MB (measured)"
        who = f"{self.visitors} visitor{'s' if self.visitors != 1 else ''}"
        return f"{self.model}, {self.flags}: weights {self.weights / MB:.1f} MB, {arena}; {who}"


HOLDINGS = Holdings()
