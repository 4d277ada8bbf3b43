"""Run the hostile corpus (tests/hostile.py) through Rembg Lab and rembg 2.0.86; write docs/HOSTILE.md.

    PYTHONPATH=. python benchmarks/hostile_vs_rembg.py [--out docs/HOSTILE.md] [--timeout 120]

Each case runs in a fresh child per tool, so a crash or a memory blow-up in one cannot hide
another; the child's VmHWM is its peak resident memory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rembg_core.measure import machine  # noqa: E402
from tests.hostile import CASES, Refuse  # noqa: E402


def measure(spec: dict) -> dict:
    """In the child: one tool on one file; any exception is the outcome, recorded, never raised."""
    import io
    import re
    import traceback

    import numpy as np
    from PIL import Image

    from rembg_core.memory import MB, peak_rss

    tool, data = spec["tool"], Path(spec["path"]).read_bytes()
    try:
        if tool == "rembg":
            from rembg import new_session, remove

            im = Image.open(io.BytesIO(remove(data, session=new_session("u2netp"))))
        else:
            from rembg_core import remove as ours

            im = ours(data).image
        a = np.asarray(im.convert("RGBA")).astype(np.float32)
        seen = a[..., 3] >= 8
        colour = a[..., :3][seen]
        if tool == "rembg":  # its cutout scales RGB by alpha: undo that to see the source colour
            colour = colour * (255.0 / np.maximum(a[..., 3][seen], 1.0))[:, None]
        out = {"ok": True, "size": list(im.size), "mode": im.mode, "white": bool(colour.size and colour.min() >= 250)}
    except Exception as exc:
        tb = traceback.format_exc()
        typed = type(exc).__module__.startswith("rembg_core")
        msg = re.sub(r" at 0x[0-9a-f]+", "", str(exc).splitlines()[0])[:160] if str(exc) else ""
        out = {"ok": False, "error": type(exc).__name__, "message": msg,
               "traceback": not typed, "where": tb.strip().splitlines()[-3].strip()[:120]}
    out["peak_mb"] = peak_rss() / MB
    return out


def run(tool: str, path: Path, timeout: float) -> dict:
    """One case in a fresh child, a mode of the library's child runner (the record on a pipe)."""
    from rembg_core.measure.configs import ProbeConfig
    from rembg_core.measure.runner import spawn

    out = spawn({"mode": "case", "tool": tool, "path": str(path)}, ProbeConfig(), timeout=timeout,
                module="benchmarks.hostile_vs_rembg", env={"U2NET_HOME": str(ROOT / "models")})
    if out.payload is not None:
        return dict(out.payload, seconds=out.wall)
    if out.returncode is None and out.reason.startswith("timed out"):
        return {"ok": False, "error": "timeout", "message": f"> {timeout:.0f} s", "traceback": False, "seconds": timeout}
    return {"ok": False, "error": f"died (exit {out.returncode})", "message": out.reason[:160], "traceback": True,
            "seconds": out.wall}


def cell(rec: dict) -> str:
    if rec.get("ok"):
        text = f"ok {rec['size'][0]}×{rec['size'][1]} {rec['mode']}"
        if rec.get("white"):
            text += " — **every pixel white**"
    elif rec.get("traceback"):
        text = f"**traceback** `{rec['error']}: {rec['message']}`"
    else:
        text = f"refused: {rec['message']}"
    return text.replace("|", "\\|") + f" ({rec.get('peak_mb', 0):.0f} MB, {rec['seconds']:.1f} s)"


CLIENTS_NOTE = [
    "## Hostile clients",
    "",
    "This table is about hostile *files*. Hostile *clients* of the HTTP service (connections that send a",
    "request head and then nothing, half a head, a body that stops, clients that hang up while queued, a",
    "million-field form, malformed HTTP, a master killed outright, a broken model path) are in",
    "docs/SERVING.md under \"Hostile clients\", each run against real gunicorn by `tests/test_serve_hostile.py`;",
    "`benchmarks/hostile_clients.py` counts the outcomes beside `rembg s`.",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "HOSTILE.md"))
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--only", help="substring of case names to run (for a quick check)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rembg-lab-hostile-") as tmp:
        for case in CASES:
            if args.only and args.only.lower() not in case.name.lower():
                continue
            path = Path(tmp) / case.filename
            data = case.build()
            path.write_bytes(data)
            ours, theirs = run("lab", path, args.timeout), run("rembg", path, args.timeout)
            print(f"{case.name:34} lab: {cell(ours)[:70]:70} rembg: {cell(theirs)[:90]}", flush=True)
            expected = "refuse" if isinstance(case.expect, Refuse) else "accept"
            rows.append((case, len(data), expected, ours, theirs))
    crashes = sum(1 for *_, t in rows if t.get("traceback"))
    ours_crashes = sum(1 for *_, o, _ in rows if o.get("traceback"))

    lines = [
        "# Hostile inputs: Rembg Lab vs rembg 2.0.86",
        "",
        "Generated by `PYTHONPATH=. python benchmarks/hostile_vs_rembg.py` (do not edit by hand). The corpus is",
        "built in memory by `tests/hostile.py`; `tests/test_hostile.py` asserts Rembg Lab's outcomes. Each cell is",
        "the outcome of `remove()` on the file in a fresh child process, its peak RSS (VmHWM) and wall time",
        "(noisy: other work shared the 2 cores). rembg is called as `remove(data, session=new_session(\"u2netp\"))`.",
        "",
        f"Machine: {machine.summary()}; " + ", ".join(f"{k} {v}" for k, v in machine.versions().items()) + ".",
        "",
        f"**rembg ended in a traceback on {crashes} of {len(rows)} inputs; Rembg Lab on {ours_crashes}.**",
        "",
        "| case | bytes | what it is | Rembg Lab | rembg 2.0.86 |",
        "|---|---:|---|---|---|",
    ]
    for case, size, _expected, ours, theirs in rows:
        lines.append(f"| {case.name} (`{case.filename}`) | {size} | {case.why} | {cell(ours)} | {cell(theirs)} |")
    lines += ["", *CLIENTS_NOTE]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--result-fd"]:  # spawned by run() through the child runner
        from rembg_core.measure.child import serve

        sys.exit(serve({"case": measure}, "benchmarks.hostile_vs_rembg", sys.argv[1:]))
    raise SystemExit(main())
