"""One fresh child per trial: the runner's isolated probe, or a claims child mode. Never raises for a
failing child; the trial comes back with ok=False and the child's one-line reason."""

from __future__ import annotations

from pathlib import Path

from ..measure.configs import ProbeConfig
from ..measure.runner import run_isolated, spawn
from ..session import SessionConfig
from .records import TrialRecord

CHILD = "rembg_core.claims.child"


def probe_trial(kind: str, variant: str, config: SessionConfig, image: Path, *, round: int,
                max_size: int | None = None, timeout: float = 300) -> TrialRecord:
    """Model loaded, then exactly one removal, no warm-up: RSS before, peak, after."""
    r = run_isolated(config, image, max_size=max_size, repeats=1, warmups=0, timeout=timeout)
    if not r.ok:
        return TrialRecord(kind, variant, round, False, r.reason, image.name)
    values = {"baseline": r.memory.before, "peak": r.memory.peak, "after": r.memory.after,
              "retained": r.memory.retained, "growth": r.memory.growth, "release_ratio": r.memory.release_ratio,
              "latency": r.median_latency,
              "image_size": r.meta.get("image_size"), "max_size": max_size}
    return TrialRecord(kind, variant, round, True, "", image.name, values, r.meta)


def child_trial(kind: str, variant: str, config: SessionConfig, image: Path, *, round: int,
                timeout: float = 300, **spec) -> TrialRecord:
    """A claims child mode (`kind`) for one `variant`; `spec` carries the mode's own settings."""
    probe = ProbeConfig(config)
    full = dict(spec, mode=kind, variant=variant, config=probe.to_dict(), image=str(image.resolve()))
    out = spawn(full, probe, timeout=timeout, module=CHILD)
    if out.payload is None:
        return TrialRecord(kind, variant, round, False, out.reason, image.name)
    values = dict(out.payload)
    meta = values.pop("meta", {})
    values["wall"] = out.wall
    return TrialRecord(kind, variant, round, True, "", image.name, values, meta)
