"""What one measurement point is: a SessionConfig plus what only a fresh process can vary."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..allocator import AllocatorChoice
from ..memory import MB
from ..session import SessionConfig

STRATEGIES = {"next_power_of_two": 0, "same_as_requested": 1}


@dataclass(frozen=True)
class ProbeConfig:
    """A session configuration as measured in a child process.

    `arena_extend_strategy` (None = ORT's default, kNextPowerOfTwo) is applied through a shared
    CPU arena registered on ORT's environment; it is process-wide, which is fine in a child that
    measures one configuration. `env` is set in the child's environment before Python starts
    (glibc reads MALLOC_ARENA_MAX and friends once, at start-up).
    """

    session: SessionConfig = field(default_factory=SessionConfig)
    arena_extend_strategy: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    name: str = ""  # short label; derived from the flags when empty
    allocator: AllocatorChoice = AllocatorChoice()  # the child's malloc; verified in the child from /proc/self/maps

    def __post_init__(self) -> None:
        if self.arena_extend_strategy is not None:
            if self.arena_extend_strategy not in STRATEGIES:
                raise ValueError(f"arena_extend_strategy must be one of {', '.join(STRATEGIES)}")
            if not self.session.enable_cpu_mem_arena:
                raise ValueError("arena_extend_strategy needs the arena on")
        if not self.name:
            object.__setattr__(self, "name", self.flags_label)

    @property
    def model(self) -> str:
        return self.session.model

    @property
    def flags_label(self) -> str:
        parts = [self.session.flags_label]
        if self.arena_extend_strategy:
            parts.append(f"extend {self.arena_extend_strategy}")
        parts += [f"{k}={v}" for k, v in self.env]
        if self.allocator != AllocatorChoice():
            parts.append(self.allocator.label)
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {"session": self.session.to_dict(), "arena_extend_strategy": self.arena_extend_strategy,
                "env": dict(self.env), "name": self.name, "allocator": self.allocator.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> ProbeConfig:
        return cls(session=SessionConfig.from_dict(d.get("session") or {}),
                   arena_extend_strategy=d.get("arena_extend_strategy"),
                   env=tuple(sorted((str(k), str(v)) for k, v in (d.get("env") or {}).items())),
                   name=d.get("name", ""), allocator=AllocatorChoice(**(d.get("allocator") or {})))


def probe_config(config: ProbeConfig | SessionConfig) -> ProbeConfig:
    return config if isinstance(config, ProbeConfig) else ProbeConfig(config)


def _cfg(model: str, arena: bool = True, pattern: bool = True, **session_fields) -> SessionConfig:
    return SessionConfig(model=model, enable_cpu_mem_arena=arena, enable_mem_pattern=pattern, **session_fields)


MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, pinned: it stops the dynamic threshold from rising


def allocator_choices() -> list[AllocatorChoice]:
    """glibc as it comes, glibc with two arenas, glibc with a pinned mmap threshold, jemalloc, mimalloc."""
    return [AllocatorChoice(), AllocatorChoice(arena_max=2), AllocatorChoice(mmap_threshold=MMAP_THRESHOLD),
            AllocatorChoice("jemalloc"), AllocatorChoice("mimalloc")]


KINDS = ("flags", "full", "allocators")


def config_set(kind: str = "flags", model: str = "u2netp") -> list[ProbeConfig]:
    """`flags`: arena × mem pattern (4). `full`: those plus shrinkage, threads, the arena's extend
    strategy and glibc allocator settings for the child. `allocators`: every allocator choice × ORT's
    arena on/off (10)."""
    if kind not in KINDS:
        raise ValueError(f"configs must be one of {', '.join(KINDS)}")
    if kind == "allocators":
        return [ProbeConfig(_cfg(model, arena=arena), allocator=choice,
                            name=f"{choice.label} · arena {'on' if arena else 'off'}")
                for choice in allocator_choices() for arena in (True, False)]
    flags = [ProbeConfig(_cfg(model, a, p)) for a in (True, False) for p in (True, False)]
    if kind == "flags":
        return flags
    cpus = os.cpu_count() or 1
    lean_malloc = (("MALLOC_ARENA_MAX", "2"),)
    extra = [
        ProbeConfig(_cfg(model, arena_shrinkage=True)),
        ProbeConfig(_cfg(model, pattern=False, arena_shrinkage=True)),
        ProbeConfig(_cfg(model, intra_op_num_threads=1)),
        *([ProbeConfig(_cfg(model, intra_op_num_threads=cpus))] if cpus > 1 else []),
        ProbeConfig(_cfg(model), arena_extend_strategy="same_as_requested"),
        ProbeConfig(_cfg(model), env=lean_malloc),
        ProbeConfig(_cfg(model, False, False), env=lean_malloc),
        ProbeConfig(_cfg(model, False, False), env=lean_malloc + (("MALLOC_TRIM_THRESHOLD_", str(16 * MB)),)),
    ]
    return flags + extra
