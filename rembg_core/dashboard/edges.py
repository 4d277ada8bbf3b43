"""What the Edges page shows, made without Streamlit: inputs turned into composites (with one-line
refusals), and a finished run kept small (PNG bytes, table rows, crops) for the visitor's session."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from ..edgequality import metrics, report, synthetic
from ..edgequality.crops import side_by_side
from ..edgequality.runner import MODES, EdgesRun
from ..errors import ImageLoadError


def cutouts(uploads: Sequence[tuple[str, bytes]]) -> tuple[list[synthetic.Layer], list[tuple[str, str]]]:
    """Each upload as a truth layer, or (file name, one-line reason) when it is refused."""
    layers, refused = [], []
    for name, data in uploads:
        try:
            layers.append(synthetic.cutout(data, name=name))
        except (ImageLoadError, ValueError) as exc:
            refused.append((name, str(exc).splitlines()[0] if str(exc) else "could not be read"))
    return layers, refused


def composites(foregrounds: Sequence[str], backgrounds: Sequence[str], layers: Sequence[synthetic.Layer],
               size: int, seed: int = 0) -> list[synthetic.Composite]:
    return synthetic.suite(tuple(foregrounds), tuple(backgrounds), cutouts=tuple(layers), size=size, seed=seed)


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


@dataclass(frozen=True)
class Shown:
    """A finished run, as the page draws it."""

    names: tuple[str, ...]  # composites
    rows: list[dict]
    comparisons: list[dict]
    provenance: str
    failures: tuple[tuple[str, str], ...]  # (mode, reason)
    photos: tuple[bytes, ...] = field(repr=False)  # PNG per composite
    crops: tuple[bytes, ...] = field(repr=False)  # PNG per composite: every mode side by side
    cutouts: dict[str, tuple[bytes, ...]] = field(repr=False)  # mode → PNG per composite
    json: bytes = field(repr=False)


def provenance(meta: dict) -> str:
    load = f"load average {meta['loadavg_start'][0]:.1f} → {meta['loadavg_end'][0]:.1f}"
    return (f"Measured {meta['when']} on {meta['where']} ({meta['machine']['summary']}; {load}), "
            f"{meta['rounds']} interleaved round(s), each mode a fresh process per round, model {meta['model']}; "
            f"soft band = 0 < true α < 1 dilated by {meta['band_dilation']} px; composite error over "
            f"{' and '.join(meta['new_backgrounds'])}.")


def comparison_rows(run: EdgesRun) -> list[dict]:
    out = []
    for c in report.comparisons(run):
        unit = "rounds" if c.figure in ("time", "peak") else "composites"
        out.append({"ours": c.ours, "against": c.theirs, "figure": c.figure,
                    "ratio": None if c.ratio is None else round(c.ratio, 3),
                    "ours lower in": f"{c.lower_in} of {c.n} {unit}", "verdict": c.verdict})
    return out


def shown(run: EdgesRun, comps: Sequence[synthetic.Composite]) -> Shown:
    import json

    ok = [r for r in run.results if r.ok]
    crops = tuple(_png(side_by_side(c, [(r.mode, r.cutouts[i]) for r in ok])) for i, c in enumerate(comps))
    return Shown(run.composites, report.rows(run), comparison_rows(run), provenance(run.meta),
                 tuple((r.mode, r.reason) for r in run.results if not r.ok),
                 tuple(_png(c.pil()) for c in comps), crops, {r.mode: r.cutouts for r in ok},
                 (json.dumps(report.to_dict(run), indent=1) + "\n").encode())


UNITS_HELP = {f"band.{k}": f"soft band: {v}" for k, v in metrics.UNITS.items()} | {
    f"whole.{k}": f"whole image: {v}" for k, v in metrics.UNITS.items()}
MODE_LABELS = {name: m.label for name, m in MODES.items()}
