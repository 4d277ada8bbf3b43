"""Check the article's claims on this machine: fresh processes in interleaved rounds, then verdicts.

Every round runs each measurement's variants once (A B C, A B C, ...), so load that comes and
goes hits every side of a comparison alike. Inputs: an ordinary image (the drawn apple sample
unless the caller gives one) and a synthetic 4K scene for the cap claims.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from ..load.compare import MIN_RUNS
from ..measure.machine import facts as machine_facts
from ..measure.machine import versions
from ..samples import apple_scene
from ..session import SessionConfig
from . import verdicts as v
from .catalog import CAP, CLAIMS, FOUR_K
from .probes import child_trial, probe_trial
from .records import ClaimsRun, TrialRecord

# progress(done, total, what just ran)
Progress = Callable[[int, int, str], None]

NEEDS = {  # claim → the measurement it reads
    "arena_off_release": "arena", "cap_bounds": "cap", "four_k_temporaries": "cap", "shared_session": "sessions",
    "stream_gc": "stream", "close_pillow": "pillow", "hash_cache": "cache", "preload": "preload",
}


@dataclass(frozen=True)
class Plan:
    """How much to measure. `quick()` is one round with shorter batches."""

    rounds: int = 3
    items: int = 8  # images per streamed batch and per Pillow loop
    cache_items: int = 5  # five timings per pass: the fewest whose interval can separate the passes
    requests: int = 6  # per sessions child, from `threads` threads
    threads: int = 2
    big_size: tuple[int, int] = FOUR_K
    timeout: float = 300  # per child

    @classmethod
    def quick(cls) -> Plan:
        return cls(rounds=1, items=6)


@dataclass(frozen=True)
class Task:
    kind: str
    variant: str
    run: Callable[[int], TrialRecord]  # round → record


def _tasks(plan: Plan, config: SessionConfig, image: Path, big: Path, kinds: set[str]) -> list[Task]:
    off = SessionConfig(model=config.model, enable_cpu_mem_arena=False, enable_mem_pattern=False)
    on = SessionConfig(model=config.model)
    t = plan.timeout
    out = []
    if "arena" in kinds:
        for name, c in ((v.ARENA_OFF, off), (v.ARENA_ON, on)):
            out.append(Task("arena", name, partial(_probe, "arena", name, c, image, None, t)))
    if "cap" in kinds:
        for name, m in ((v.NO_CAP, None), (v.CAPPED, CAP)):
            out.append(Task("cap", name, partial(_probe, "cap", name, config, big, m, t)))
    specs = {"sessions": ((v.SHARED, v.PER_REQUEST), {"requests": plan.requests, "threads": plan.threads}),
             "stream": ((v.STREAM_GC, v.STREAM, v.KEEP), {"items": plan.items}),
             "pillow": ((v.CLOSE, v.NO_CLOSE), {"items": plan.items}),
             "cache": (("two passes",), {"items": plan.cache_items})}
    for kind, (variants, spec) in specs.items():
        if kind in kinds:
            out += [Task(kind, name, partial(_child, kind, name, config, image, t, spec)) for name in variants]
    return out


def _probe(kind: str, variant: str, config: SessionConfig, image: Path, max_size: int | None, timeout: float,
           round: int) -> TrialRecord:
    return probe_trial(kind, variant, config, image, round=round, max_size=max_size, timeout=timeout)


def _child(kind: str, variant: str, config: SessionConfig, image: Path, timeout: float, spec: dict,
           round: int) -> TrialRecord:
    return child_trial(kind, variant, config, image, round=round, timeout=timeout, **spec)


def _preload_records(plan: Plan, config: SessionConfig, photo: Path, rounds: int, progress: Progress | None,
                     done: int, total: int) -> list[TrialRecord]:
    """The service with and without --preload, interleaved, 2 workers under the same bounded load."""
    from ..server.preload_study import preload_study

    runs = preload_study(config, ((photo.name, photo.read_bytes()),), rounds=rounds, workers=2,
                         clients=plan.threads * 2, requests=max(8, plan.requests), timeout=plan.timeout,
                         progress=(lambda d, t, what: progress(done + d, total, f"preload study, {what}"))
                         if progress else None)
    return [TrialRecord("preload", v.PRELOAD if run.preload else v.NO_PRELOAD, i // 2, True, "", photo.name,
                        run.to_dict()) for i, run in enumerate(runs)]


def machine() -> dict:
    f = machine_facts()
    return {k: f[k] for k in ("summary", "platform", "processor", "cpu_count", "memory_bytes", "python")}


def _versions() -> dict:
    return versions(("onnxruntime", "numpy", "pillow"))


def service_exists() -> bool:
    return importlib.util.find_spec("rembg_core.server") is not None


def check_claims(image: str | os.PathLike | None = None, *, plan: Plan = Plan(), config: SessionConfig | None = None,
                 claims: Sequence[str] | None = None, command: str = "", progress: Progress | None = None,
                 workdir: str | os.PathLike | None = None) -> ClaimsRun:
    """Measure and judge `claims` (all by default). Never raises for a failing child: that claim's
    verdict becomes "could not tell" with the child's reason."""
    config = config or SessionConfig()
    wanted = [c.id for c in CLAIMS if claims is None or c.id in claims]
    kinds = {kind for c in wanted if (kind := NEEDS[c])}
    started = time.time()
    load_start = list(os.getloadavg())
    own = workdir is None
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="rembg-lab-claims-"))
    try:
        if image is None:
            photo = folder / "apple-sample.png"
            apple_scene().save(photo)
        else:
            photo = Path(image)
        big = folder / f"synthetic-{plan.big_size[0]}x{plan.big_size[1]}.jpg"
        if "cap" in kinds:
            apple_scene(plan.big_size).save(big, quality=90)
        tasks = _tasks(plan, config, photo, big, kinds)
        records: list[TrialRecord] = []
        study_rounds = max(MIN_RUNS, plan.rounds) if "preload" in kinds else 0
        total = plan.rounds * len(tasks) + 2 * study_rounds
        for r in range(plan.rounds):
            for task in tasks:
                records.append(task.run(r))
                if progress:
                    progress(len(records), total, f"round {r + 1}: {task.kind}, {task.variant}")
        if study_rounds:
            records += _preload_records(plan, config, photo, study_rounds, progress, len(records), total)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    results = []
    for claim_id in wanted:
        own_records = [rec for rec in records if rec.kind == NEEDS[claim_id]]
        results.append(v.VERDICT_OF[claim_id](own_records))
    meta = {
        "when": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "where": socket.gethostname(), "machine": machine(), "versions": _versions(),
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "image": photo.name, "big_image": big.name if "cap" in kinds else None,
        "plan": asdict(plan), "config": config.to_dict(), "claims": wanted,
        "loadavg_start": load_start, "loadavg_end": list(os.getloadavg()),
        "seconds": round(time.time() - started, 1),
    }
    return ClaimsRun(tuple(results), meta)
