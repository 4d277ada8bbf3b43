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

import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from ..measure.configs import probe_config
from ..measure.runner import spawn
from ..session import SessionConfig
from . import metrics
from .modes import MODES, available_modes, ours_offered, peer_available
from .records import ChildRun, EdgesRun, ModeResult
from .synthetic import Composite

__all__ = ["MODES", "ChildRun", "EdgesRun", "ModeResult", "available_modes", "peer_available", "run_edges"]
OURS_CHILD = "rembg_core.edgequality.child"
PEER_CHILD = "benchmarks.edges_peer"


Progress = Callable[[int, int, str], None]


def _machine() -> dict:
    from ..measure.machine import facts

    return facts()


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
