"""The child side of an edge-quality run: `python -m rembg_core.edgequality.child --result-fd N SPEC`
(spawned through measure.runner.spawn, one fresh interpreter per mode and round).

SPEC: {"mode": "edges", "options": RemoveOptions dict, "inputs": [PNG paths], "outdir": path,
"warmups": n}. Each input is removed once, timed bytes in → RGBA image out; the kernel's RSS
high-water mark is reset just before each call, so its growth is that call's own peak. The cutouts
are written to `outdir` as `<index>.png`; the pipe gets the times and peaks.

`measure_calls` is shared with the peer child (benchmarks/edges_peer.py), which runs rembg's modes
the same way, so both sides are timed and measured by one loop.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from ..measure.child import serve


def measure_calls(spec: dict, call: Callable[[bytes], Image.Image]) -> dict:
    """Warm up on the first input, then time each input once; write each cutout as PNG."""
    from ..memory import read_hwm, reset_peak, rss

    inputs = [Path(p) for p in spec["inputs"]]
    outdir = Path(spec["outdir"])
    outdir.mkdir(parents=True, exist_ok=True)
    datas = [p.read_bytes() for p in inputs]
    for _ in range(int(spec.get("warmups", 1))):  # the memory pattern is planned on the first run, allocated on the second
        call(datas[0])
    seconds, growth, exact = [], [], True
    for i, data in enumerate(datas):
        exact = reset_peak() and exact
        before = rss()
        t0 = time.perf_counter()
        out = call(data)
        seconds.append(time.perf_counter() - t0)
        peak = read_hwm()
        growth.append(max(0, (peak if peak is not None else rss()) - before))
        if out.mode != "RGBA":
            out = out.convert("RGBA")
        out.save(outdir / f"{i}.png", compress_level=1)
        del out
    return {"seconds": seconds, "growth": growth, "exact_peak": exact, "rss_end": rss()}


def ours(spec: dict) -> dict:
    from ..options import RemoveOptions
    from ..pipeline import remove
    from ..session import SessionConfig, load_session

    options = RemoveOptions.from_dict(spec.get("options", {}))
    session = load_session(SessionConfig())  # ORT's defaults (arena and pattern on), as rembg runs

    def call(data: bytes) -> Image.Image:
        return remove(data, session=session, options=options).image

    return measure_calls(spec, call)


def main(argv: list[str] | None = None) -> int:
    return serve({"edges": ours}, "rembg_core.edgequality.child", argv)


if __name__ == "__main__":
    sys.exit(main())
