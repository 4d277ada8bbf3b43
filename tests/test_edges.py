"""The edge stage (rembg_core.edges): rembg's trimap rule, closed-form matting in the band, colour
decontamination, haze cleanup, the budget, and the wiring (pipeline, CLI, HTTP options)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_erosion

from rembg_core import RemoveOptions, remove
from rembg_core.edges import EdgeBudgetError, haze, matting, refine
from rembg_core.edges.trimap import trimap
from rembg_core.pipeline import compose_result
from rembg_core.server.config import ServerConfig
from rembg_core.server.options import OptionError, parse
from tests.conftest import ROOT
from tests.edges_truth import composite_error, strands


def _mask_like(seed: int = 0, shape=(70, 90)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = (rng.random(shape) * 255).astype(np.uint8)
    m[10:50, 5:] = 250
    m[:6] = 0
    return m


@pytest.mark.parametrize("erode", [0, 1, 2, 3, 10])
def test_trimap_is_rembgs_rule(erode):
    m = _mask_like(erode)
    structure = None if erode == 0 else np.ones((erode, erode), np.uint8)
    fg = binary_erosion(m > 240, structure=structure)
    bg = binary_erosion(m < 10, structure=structure, border_value=1)
    want = np.full(m.shape, 128, np.uint8)
    want[fg], want[bg] = 255, 0
    assert np.array_equal(trimap(m, 240, 10, erode), want)


def test_window_solve_is_closed_form_matting():
    estimate_alpha_cf = pytest.importorskip("pymatting.alpha.estimate_alpha_cf").estimate_alpha_cf
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:100, :120]
    truth = np.clip((xx - 50) / 20 + 0.3 * np.sin(yy / 5), 0, 1)
    img = (truth[..., None] * [200, 80, 40] + (1 - truth[..., None]) * [30, 160, 60]
           + rng.normal(0, 3, (100, 120, 3))).clip(0, 255).astype(np.uint8)
    mask = (np.clip((xx - 45) / 30, 0, 1) * 255).astype(np.uint8)
    tri = trimap(mask, 240, 10, 5)
    ref = estimate_alpha_cf(img / 255.0, tri / 255.0)
    old = matting.CG_RTOL, matting.CG_MAXITER
    matting.CG_RTOL, matting.CG_MAXITER = 1e-9, 5000
    try:
        ours = matting.solve_window(img, tri, mask)
    finally:
        matting.CG_RTOL, matting.CG_MAXITER = old
    assert np.abs(ours - ref).max() < 2e-3


@pytest.mark.parametrize("bg", ["green", "white"])
def test_decontaminate_cuts_the_soft_band_composite_error(bg):
    """With the true alpha, so the colour estimate alone is judged: at least 20 % lower."""
    t = strands(bg=bg)
    a8 = Image.fromarray((t.alpha * 255 + 0.5).astype(np.uint8))
    rgb = Image.fromarray(t.image)
    none = composite_error(t.image, np.asarray(a8), t, t.soft)
    out = refine(rgb, a8, RemoveOptions(decontaminate=True))
    fixed = composite_error(np.asarray(out.rgb), np.asarray(a8), t, t.soft)
    assert fixed <= 0.8 * none, (none, fixed)
    assert out.alpha is a8  # colour only


@pytest.mark.parametrize("bg", ["green", "bokeh"])
def test_matting_lowers_the_soft_band_alpha_error_of_u2netp(model_path, bg):
    t = strands(bg=bg)
    r = remove(Image.fromarray(t.image))
    mask = np.asarray(r.mask) / 255
    matted = remove(Image.fromarray(t.image), options=RemoveOptions(alpha_matting=True))
    a = np.asarray(matted.mask) / 255
    assert np.abs(a - t.alpha)[t.soft].mean() < np.abs(mask - t.alpha)[t.soft].mean()
    assert "edges" in matted.timings


@pytest.mark.parametrize("bg", ["green", "bokeh", "white"])
def test_haze_cleanup_keeps_the_truth(bg):
    """On a subject's true alpha, cleanup removes nothing at or above HAZE_BELOW, and nothing within
    NEAR_PX of the solid subject; added far haze and a speck are removed."""
    t = strands(bg=bg)
    a = (t.alpha * 255 + 0.5).astype(np.uint8)
    cleaned, _ = haze.clean(a)
    assert np.array_equal(cleaned[a >= haze.HAZE_BELOW], a[a >= haze.HAZE_BELOW])
    hazy = a.copy()
    hazy[:, :20][hazy[:, :20] == 0] = 12  # a faint veil at the far left
    hazy[5:8, 300:303] = 200  # a stray speck
    cleaned, report = haze.clean(hazy)
    assert cleaned[:, :20].max() == 0 and cleaned[5:8, 300:303].max() == 0
    assert report.specks == 1 and report.haze_pixels > 0
    keep = (a >= haze.HAZE_BELOW) & ~((np.arange(a.shape[1]) >= 300)[None, :] & (np.arange(a.shape[0]) < 8)[:, None])
    assert np.array_equal(cleaned[keep], a[keep])


def test_no_band_is_a_no_op():
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    empty = Image.new("L", (80, 60), 0)
    out = refine(rgb, empty, RemoveOptions(alpha_matting=True))
    assert np.asarray(out.alpha).max() == 0 and any("no unknown band" in n for n in out.notes)
    hard = Image.new("L", (80, 60), 0)
    hard.paste(255, (20, 10, 60, 50))
    out = refine(rgb, hard, RemoveOptions(decontaminate=True))
    assert np.array_equal(np.asarray(out.rgb), np.asarray(rgb)) and out.alpha is hard
    plain = refine(rgb, hard, RemoveOptions())
    assert plain.rgb is rgb and plain.alpha is hard and not plain.notes  # rembg parity: untouched


def test_band_over_the_budget_runs_at_reduced_scale_or_is_refused():
    t = strands(bg="green")
    rgb, mask = Image.fromarray(t.image), Image.fromarray((t.alpha * 255).astype(np.uint8))
    out = refine(rgb, mask, RemoveOptions(alpha_matting=True), budget_px=2000)
    assert out.alpha.size == rgb.size
    assert any("matting ran at 1/" in n and "edge budget" in n for n in out.notes), out.notes
    with pytest.raises(EdgeBudgetError, match="over 64x the edge budget"):
        refine(rgb, mask, RemoveOptions(alpha_matting=True), budget_px=10)


def test_recompose_from_a_kept_mask_covers_the_edge_stage(model_path):
    t = strands(bg="bokeh")
    opts = RemoveOptions(alpha_matting=True)
    r = remove(Image.fromarray(t.image), options=opts)
    again = compose_result(r.source, r.model_mask, opts)
    assert np.array_equal(np.asarray(again.image), np.asarray(r.image))
    image, alpha = again  # still unpacks as before
    assert alpha.size == image.size


MEMORY_CHILD = """
import json, numpy as np
from PIL import Image
from rembg_core import memory, RemoveOptions
from rembg_core.edges import refine
w, h = 4000, 3000
yy, xx = np.ogrid[:h, :w]
d = np.hypot(xx - w / 2, yy - h / 2) - 1100.0
mask = Image.fromarray((np.clip(0.5 - d / 16, 0, 1) * 255).astype(np.uint8))
rgb = Image.fromarray(np.dstack([(xx * 0 + 40 + (d < 0) * 150).astype(np.uint8)] * 3))
del yy, xx, d
memory.trim()
exact = memory.reset_peak()
before = memory.rss()
out = refine(rgb, mask, RemoveOptions(alpha_matting=True))
print(json.dumps({"growth": memory.read_hwm() - before, "exact": exact, "notes": out.notes}))
"""


def test_matting_memory_follows_the_band_not_the_image():
    """12 MP, a thin band around a disc: peak growth below one full-image float64 RGB array."""
    proc = subprocess.run([sys.executable, "-c", MEMORY_CHILD], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    if not got["exact"]:
        pytest.skip("this kernel cannot reset the RSS high-water mark")
    assert got["growth"] < 12e6 * 3 * 8, got


@pytest.mark.parametrize("argv, words", [
    (["-a", "-af", "300"], "0-255"),
    (["-a", "-ab", "200", "-af", "100"], "must be below"),
    (["--alpha-matting-erode-size", "x"], "whole number"),
])
def test_cli_refuses_bad_thresholds_in_one_line(tmp_path, argv, words):
    proc = subprocess.run([sys.executable, "-m", "rembg_core", "remove", str(tmp_path / "in.png"), "-o",
                           str(tmp_path / "out.png"), *argv], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr


def test_cli_edge_flags_map_onto_the_options():
    from rembg_core.cli import build_parser
    from rembg_core.cli.remove import remove_options

    args = build_parser().parse_args(["remove", "x.png", "-o", "y.png", "-a", "-af", "230", "-ab", "20",
                                      "-ae", "4", "-dc", "--clean-haze"])
    o = remove_options(args, "png")
    assert (o.alpha_matting, o.alpha_matting_foreground_threshold, o.alpha_matting_background_threshold,
            o.alpha_matting_erode_size, o.decontaminate, o.clean_haze) == (True, 230, 20, 4, True, True)
    assert o.edge_mode == "matting"


def test_http_fields_as_rembg_sends_them():
    cfg = ServerConfig()
    o = parse({"a": "true", "af": "230", "ab": "20", "ae": "4", "dc": "1"}, cfg)
    assert (o.alpha_matting, o.alpha_matting_foreground_threshold, o.alpha_matting_background_threshold,
            o.alpha_matting_erode_size, o.decontaminate) == (True, 230, 20, 4, True)
    assert parse({}, cfg).edge_mode == "none"
    for bad, words in (({"af": "256"}, "0-255"), ({"ab": "240"}, "must be below"), ({"ae": "-1"}, "0-255"),
                       ({"af": "x"}, "whole number"), ({"vm": "true"}, "ViTMatte")):
        with pytest.raises(OptionError, match=words) as err:
            parse(bad, cfg)
        assert "\n" not in str(err.value)


def test_cache_key_covers_the_edge_fields():
    from rembg_core.batch.cache import cache_key

    base = RemoveOptions()
    keys = {cache_key(b"img", o, "sha256:x") for o in (
        base, base.replace(alpha_matting=True), base.replace(alpha_matting=True, alpha_matting_erode_size=4),
        base.replace(alpha_matting=True, alpha_matting_foreground_threshold=230),
        base.replace(alpha_matting=True, alpha_matting_background_threshold=20),
        base.replace(decontaminate=True), base.replace(clean_haze=True))}
    assert len(keys) == 7
