"""Score every edge mode on the same composites, each mode's time and peak in fresh processes.

Rounds are interleaved (none, decontaminate, matting, rembg, …, then again), so machine load
hits every mode alike. Each (mode, round) is one child spawned through measure.runner.spawn; the
child writes its cutouts as PNG and returns times and peaks; the parent scores the cutouts against
the truth it kept. Outputs are deterministic, so the scores come from the last round that finished;
times and peaks are medians over rounds with their min–max.

rembg's modes run in benchmarks/edges_peer.py (this package never imports rembg) and are offered
only where rembg is installed and that file is present (a clone with the dev requirements).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from ..measure.configs import probe_config
from ..measure.runner import PACKAGE_ROOT, spawn
from ..session import SessionConfig
from . import metrics
from .synthetic import Composite

OURS_CHILD = "rembg_core.edgequality.child"
PEER_CHILD = "benchmarks.edges_peer"


@dataclass(frozen=True)
class Mode:
    name: str
    impl: str  # "ours" or "rembg"
    options: tuple[tuple[str, object], ...]
    label: str


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("none", "ours", (), "ours: straight colour (no edge stage)"),
    Mode("decontaminate", "ours", (("decontaminate", True),), "ours: foreground colour estimated in the soft band"),
    Mode("matting", "ours", (("alpha_matting", True),), "ours: alpha refined in the unknown band, then colour"),
    Mode("rembg", "rembg", (), "rembg 2.0.86 plain cutout"),
    Mode("rembg-dc", "rembg", (("decontaminate", True),), "rembg 2.0.86 -dc"),
    Mode("rembg-a", "rembg", (("alpha_matting", True),), "rembg 2.0.86 -a (-af 240 -ab 10 -ae 10)"),
)}
# Which of ours is held to which of rembg's, and on which figures (the quality targets).
PAIRS = (("matting", "rembg-a", ("band.sad", "band.mse", "band.grad", "band.conn", "band.composite")),
         ("decontaminate", "rembg-dc", ("band.composite",)),
         ("matting", "none", ("band.sad", "band.composite")),
         ("decontaminate", "none", ("band.composite",)))


def peer_available() -> bool:
    return (importlib.util.find_spec("rembg") is not None
            and (PACKAGE_ROOT / "benchmarks" / "edges_peer.py").is_file())


def available_modes() -> tuple[str, ...]:
    return tuple(n for n, m in MODES.items() if (m.impl == "ours" and ours_offered(n)) or
                 (m.impl == "rembg" and peer_available()))


def ours_offered(mode: str) -> bool:
    """Whether this build has the edge stage a mode of ours needs (`none` needs none)."""
    if MODES[mode].impl != "ours" or not MODES[mode].options:
        return True
    return importlib.util.find_spec("rembg_core.edges") is not None


@dataclass(frozen=True)
class ChildRun:
    mode: str
    round: int
    ok: bool
    reason: str = ""
    seconds: tuple[float, ...] = ()  # per composite
    growth: tuple[int, ...] = ()  # bytes, per composite
    wall: float = 0.0


@dataclass(frozen=True)
class ModeResult:
    mode: str
    ok: bool
    reason: str
    runs: tuple[ChildRun, ...]
    whole: tuple[metrics.Scores, ...] = ()  # per composite
    band: tuple[metrics.Scores, ...] = ()
    cutouts: tuple[bytes, ...] = field(default=(), repr=False)  # PNG per composite (not saved in JSON)

    def _per_round(self, key: Callable[[ChildRun], float]) -> list[float]:
        return [key(r) for r in self.runs if r.ok]

    @property
    def seconds(self) -> list[float]:
        """Per round: mean seconds per composite."""
        return self._per_round(lambda r: statistics.fmean(r.seconds))

    @property
    def growth(self) -> list[float]:
        """Per round: the largest peak growth over the composites, bytes."""
        return self._per_round(lambda r: float(max(r.growth)))

    def mean(self, figure: str) -> float | None:
        """'band.sad', 'whole.composite', ...: the mean over composites."""
        region, name = figure.split(".")
        values = [getattr(s, name) for s in getattr(self, region)]
        return statistics.fmean(values) if values else None

    def to_dict(self) -> dict:
        return {"mode": self.mode, "label": MODES[self.mode].label, "ok": self.ok, "reason": self.reason,
                "runs": [r.__dict__ for r in self.runs], "whole": [s.to_dict() for s in self.whole],
                "band": [s.to_dict() for s in self.band]}


@dataclass(frozen=True)
class EdgesRun:
    composites: tuple[str, ...]
    results: tuple[ModeResult, ...]
    meta: dict

    def result(self, mode: str) -> ModeResult | None:
        return next((r for r in self.results if r.mode == mode), None)

    def to_dict(self) -> dict:
        from .report import comparisons

        return {"meta": self.meta, "composites": list(self.composites),
                "units": metrics.UNITS, "results": [r.to_dict() for r in self.results],
                "comparisons": [c.to_dict() for c in comparisons(self)]}


Progress = Callable[[int, int, str], None]


def _machine() -> dict:
    from ..claims.engine import machine

    return machine()


def run_edges(composites: Sequence[Composite], modes: Sequence[str] = ("none", "decontaminate", "matting"), *,
              rounds: int = 3, warmups: int = 1, timeout: float = 900, command: str = "",
              progress: Progress | None = None, workdir: str | os.PathLike | None = None) -> EdgesRun:
    """Run `modes` on `composites` in `rounds` interleaved rounds of fresh processes and score them.
    Never raises for a failing child: that mode comes back with ok=False and the child's reason.
    To stop a run, raise from `progress` or from a measure.runner tick: the live child is killed
    and the working folder removed as the error unwinds."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown edge mode {unknown[0]!r}: choose from {', '.join(MODES)}")
    if not composites:
        raise ValueError("no composites to score")
    started = time.time()
    load_start = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="rembg-lab-edges-", dir=workdir) as tmp:
        folder = Path(tmp)
        inputs = []
        for i, c in enumerate(composites):
            path = folder / f"in-{i}.png"
            c.pil().save(path, compress_level=1)
            inputs.append(str(path))
        runs: dict[str, list[ChildRun]] = {m: [] for m in modes}
        last_ok: dict[str, int] = {}
        total, done = rounds * len(modes), 0
        for r in range(rounds):
            for mode in modes:
                if progress:
                    progress(done, total, f"round {r + 1} of {rounds}: {mode}")
                runs[mode].append(_run_child(mode, r, inputs, folder / f"{mode}-{r}", warmups, timeout))
                if runs[mode][-1].ok:
                    last_ok[mode] = r
                done += 1
        if progress:
            progress(done, total, "scoring")
        results = tuple(_score(mode, runs[mode], composites, folder / f"{mode}-{last_ok[mode]}" if mode in last_ok
                               else None) for mode in modes)
    meta = {"when": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "where": socket.gethostname(), "machine": _machine(),
            "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "rounds": rounds, "warmups": warmups, "modes": list(modes), "model": "u2netp",
            "sizes": [list(c.size) for c in composites], "band_dilation": metrics.BAND_DILATION,
            "new_backgrounds": list(metrics.NEW_BACKGROUNDS), "loadavg_start": load_start,
            "loadavg_end": list(os.getloadavg()), "seconds": round(time.time() - started, 1)}
    return EdgesRun(tuple(c.name for c in composites), results, meta)


def _run_child(mode: str, r: int, inputs: list[str], outdir: Path, warmups: int, timeout: float) -> ChildRun:
    m = MODES[mode]
    spec = {"mode": "edges", "options": dict(m.options), "inputs": inputs, "outdir": str(outdir), "warmups": warmups}
    module = OURS_CHILD if m.impl == "ours" else PEER_CHILD
    if m.impl == "rembg" and not peer_available():
        return ChildRun(mode, r, False, "rembg is not installed here (pip install -r requirements-dev.txt)")
    if m.impl == "ours" and not ours_offered(mode):
        return ChildRun(mode, r, False, "this build has no edge stage (rembg_core.edges) yet")
    out = spawn(spec, probe_config(SessionConfig()), timeout=timeout, module=module)
    if out.payload is None:
        return ChildRun(mode, r, False, out.reason, wall=out.wall)
    p = out.payload
    return ChildRun(mode, r, True, "", tuple(p["seconds"]), tuple(int(g) for g in p["growth"]), out.wall)


def _score(mode: str, runs: list[ChildRun], composites: Sequence[Composite], outdir: Path | None) -> ModeResult:
    if outdir is None:
        reason = next((r.reason for r in reversed(runs) if r.reason), "did not run")
        return ModeResult(mode, False, reason, tuple(runs))
    whole, band, pngs = [], [], []
    for i, c in enumerate(composites):
        png = (outdir / f"{i}.png").read_bytes()
        with Image.open(outdir / f"{i}.png") as im:
            rgba = np.asarray(im.convert("RGBA"))
        if rgba.shape[:2] != c.alpha.shape:
            return ModeResult(mode, False, f"cutout is {rgba.shape[1]}x{rgba.shape[0]}, expected "
                              f"{c.size[0]}x{c.size[1]}", tuple(runs))
        a, f = metrics.split_rgba(rgba)
        region = metrics.soft_band(c.alpha)
        whole.append(metrics.score(a, f, c.alpha, c.fg))
        band.append(metrics.score(a, f, c.alpha, c.fg, region))
        pngs.append(png)
    return ModeResult(mode, True, "", tuple(runs), tuple(whole), tuple(band), tuple(pngs))
