"""The config sweep: every configuration in fresh processes, measured in interleaved rounds.

Round 1 runs A, B, C, each in its own child; round 2 runs A, B, C again; and so on. Machine load
that comes and goes then hits every configuration alike instead of one block of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .analysis import ConfigSummary, Recommendation, SweepWarning, pareto_flags, recommend, summarize, sweep_warnings
from .configs import ProbeConfig, config_set
from .records import SCHEMA, ProbeRecord
from .runner import run_isolated

# progress(done, total, record): after every child
Progress = Callable[[int, int, ProbeRecord], None]


@dataclass(frozen=True)
class SweepResult:
    records: tuple[ProbeRecord, ...]  # in the order they ran: round by round
    image: str  # the image's file name (never a server path)
    max_size: int | None
    repeats: int  # measured runs per child
    warmups: int
    rounds: int

    @property
    def summaries(self) -> tuple[ConfigSummary, ...]:
        return summarize(self.records)

    @property
    def pareto(self) -> tuple[bool, ...]:
        return pareto_flags(self.summaries)

    @property
    def recommendation(self) -> Recommendation:
        return recommend(self.summaries, self.rounds)

    @property
    def warnings(self) -> tuple[SweepWarning, ...]:
        return sweep_warnings(self.summaries, self.records)

    @property
    def noisy(self) -> bool:
        return any(w.kind in ("noisy", "load") for w in self.warnings)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "image": self.image, "max_size": self.max_size, "repeats": self.repeats,
                "warmups": self.warmups, "rounds": self.rounds, "recommendation": self.recommendation.text,
                "recommended": self.recommendation.name,
                "could_not_tell": self.recommendation.why or None, "warnings": [w.message for w in self.warnings],
                "records": [dict(r.to_dict(), image=Path(r.image).name) for r in self.records]}

    @classmethod
    def from_dict(cls, d: dict) -> SweepResult:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"schema {d.get('schema')!r} is not {SCHEMA!r}")
        return cls(tuple(ProbeRecord.from_dict(r) for r in d["records"]), d["image"], d.get("max_size"),
                   int(d["repeats"]), int(d["warmups"]), int(d.get("rounds", 1)))


def sweep(image_path: str | os.PathLike, configs: Sequence[ProbeConfig] | str = "flags", *,
          max_size: int | None = None, repeats: int = 3, warmups: int = 2, rounds: int = 2,
          timeout: float = 180, progress: Progress | None = None,
          env: dict[str, str] | None = None) -> SweepResult:
    """`rounds` × every config, interleaved; each (round, config) is one fresh child."""
    configs = config_set(configs) if isinstance(configs, str) else list(configs)
    records = []
    total = rounds * len(configs)
    for _ in range(rounds):
        for config in configs:
            record = run_isolated(config, image_path, max_size=max_size, repeats=repeats, warmups=warmups,
                                  timeout=timeout, env=env)
            records.append(record)
            if progress:
                progress(len(records), total, record)
    return SweepResult(tuple(records), Path(image_path).name, max_size, repeats, warmups, rounds)
