"""Synthetic truth, matting metrics and crops of the edge-quality instrument (no model needed)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rembg_core.edgequality import crops, metrics, synthetic
from rembg_core.edgequality.report import sign_test_p
from rembg_core.edgequality.synthetic import SS, _Canvas

# --- synthetic truth -------------------------------------------------------------

def test_disk_coverage_matches_its_area():
    c = _Canvas(64, 64)
    cx, cy, r = 31.3, 30.7, 17.45
    c.ellipse((cx - r, cy - r, cx + r, cy + r), (255, 0, 0))
    layer = c.resolve("disk")
    assert layer.alpha.sum() == pytest.approx(np.pi * r * r, rel=0.01)
    edge = (layer.alpha > 0) & (layer.alpha < 1)
    assert edge.sum() > 0.8 * 2 * np.pi * r  # a soft ring all the way round, not a jagged step
    assert np.allclose(layer.fg[layer.alpha > 0], (1, 0, 0), atol=1e-6)  # straight colour is exact


def test_half_plane_coverage_is_exact_per_pixel():
    c = _Canvas(16, 8)
    c.polygon([(0, 0), (5.375, 0), (5.375, 8), (0, 8)], (10, 20, 30))
    a = c.resolve("plane").alpha
    assert np.allclose(a[:, :5], 1)
    assert np.allclose(a[:, 5], 3 / SS, atol=1 / SS)  # 0.375 of the pixel, to one sample column
    assert np.allclose(a[:, 6:], 0)


@pytest.mark.parametrize("kind", synthetic.FOREGROUNDS)
@pytest.mark.parametrize("bg", synthetic.BACKGROUNDS)
def test_composite_is_alpha_f_plus_one_minus_alpha_b(kind, bg):
    layer = synthetic.procedural(kind, 128, seed=3)
    comp = synthetic.composite(layer, bg, seed=3)
    a = comp.alpha.astype(np.float64)[..., None]
    expect = (a * comp.fg + (1 - a) * comp.bg) * 255
    assert np.abs(comp.image - expect).max() <= 0.5 + 1e-3  # one rounding to 8 bits, nothing else
    assert 0 <= comp.alpha.min() and comp.alpha.max() <= 1
    soft = (comp.alpha > 0) & (comp.alpha < 1)
    assert soft.sum() > 200, "a foreground meant for edge scoring needs a soft band"
    assert comp.alpha.max() == 1.0, "and an opaque subject"


def test_deterministic_and_seeded():
    a = synthetic.procedural("strands", 96, seed=1)
    b = synthetic.procedural("strands", 96, seed=1)
    c = synthetic.procedural("strands", 96, seed=2)
    assert np.array_equal(a.alpha, b.alpha) and np.array_equal(a.fg, b.fg)
    assert not np.array_equal(a.alpha, c.alpha)


def test_veil_is_semi_transparent_inside():
    layer = synthetic.procedural("veil", 128)
    inner = layer.alpha[int(128 * 0.6), 30:42]  # left of the body, under the veil
    assert 0.2 < inner.mean() < 0.65


def _png(arr: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def test_user_cutout_keeps_its_alpha_and_colour():
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[10:30, 10:40] = (200, 100, 50, 255)
    rgba[10:30, 40] = (200, 100, 50, 128)
    layer = synthetic.cutout(_png(rgba, "RGBA"), name="mine.png")
    pad = (layer.alpha.shape[0] - 40) // 2
    assert layer.alpha.sum() == pytest.approx((20 * 30 * 255 + 20 * 128) / 255, rel=1e-6)
    assert np.allclose(layer.fg[pad + 20, pad + 40], np.array([200, 100, 50]) / 255, atol=1e-6)


def test_user_cutout_scaled_in_premultiplied_float():
    rgba = np.zeros((400, 1000, 4), np.uint8)
    rgba[100:300, 200:800] = (255, 255, 255, 255)
    layer = synthetic.cutout(_png(rgba, "RGBA"), max_side=500)
    assert max(layer.alpha.shape) <= 500 + 2 * 40
    assert layer.alpha.sum() == pytest.approx(200 * 600 / 4, rel=1e-4)  # area scales by (1/2)²
    assert np.allclose(layer.fg[layer.alpha > 0], 1.0, atol=1e-5)  # no black bleeding into the edge


@pytest.mark.parametrize("data,message", [
    (_png(np.full((8, 8, 3), 90, np.uint8), "RGB"), "no transparency"),
    (_png(np.zeros((8, 8, 4), np.uint8), "RGBA"), "fully transparent"),
])
def test_user_cutout_refusals(data, message):
    with pytest.raises(ValueError, match=message):
        synthetic.cutout(data)


def test_unknown_names_refused():
    with pytest.raises(ValueError, match="unknown foreground"):
        synthetic.procedural("feathers")
    with pytest.raises(ValueError, match="unknown background"):
        synthetic.background("sky", 4, 4)


# --- metrics ------------------------------------------------------------------

@pytest.fixture(scope="module")
def truth():
    layer = synthetic.procedural("fur", 128, seed=5)
    return layer.alpha.astype(np.float64), layer.fg.astype(np.float64)


def test_identity_scores_zero(truth):
    a, f = truth
    for region in (None, metrics.soft_band(a)):
        s = metrics.score(a, f, a, f, region)
        assert (s.sad, s.mse, s.grad, s.conn, s.composite) == (0, 0, 0, 0, 0)


def test_known_shift(truth):
    a, f = truth
    region = a <= 0.8
    pred = np.where(region, a + 0.1, a)
    assert metrics.sad(pred, a, region) == pytest.approx(0.1 * region.sum() / 1000)
    assert metrics.mse(pred, a, region) == pytest.approx(0.01 * 1000)


def test_gradient_of_a_constant_offset_is_zero_and_a_blur_is_not():
    a = np.zeros((40, 40))
    a[:, 20:] = 1.0
    assert metrics.gradient_error(a * 0.5 + 0.25, a * 0.5) == pytest.approx(0, abs=1e-12)
    from scipy.ndimage import uniform_filter
    assert metrics.gradient_error(uniform_filter(a, 7), a) > 0


def test_gradient_kernel_unit_norm():
    g, dg = metrics._gauss_gradient_kernels(1.4)
    assert np.sqrt((np.outer(g, dg) ** 2).sum()) == pytest.approx(1.0)
    # gaussgradient.m's half-size: ceil(σ·sqrt(−2·ln(sqrt(2π)·σ·ε))) = ceil(3.62) = 4 for σ = 1.4, ε = 0.01
    assert len(g) == 2 * 4 + 1


def test_connectivity_counts_a_detached_island():
    truth = np.zeros((50, 50))
    truth[10:30, 10:30] = 1
    pred = truth.copy()
    pred[40:44, 40:45] = 1  # 20 pixels no truth pixel connects to
    assert metrics.connectivity_error(pred, truth) == pytest.approx(20 / 1000)
    assert metrics.connectivity_error(truth, truth) == 0


def test_composite_error_known_colour_shift():
    a = np.ones((10, 10))
    f = np.full((10, 10, 3), 0.5)
    assert metrics.composite_error(a, f + 10 / 255, a, f) == pytest.approx(10.0)
    half = np.full((10, 10), 0.5)  # at α = ½ a colour error shows at half strength
    assert metrics.composite_error(half, f + 10 / 255, half, f) == pytest.approx(5.0)


def test_composite_error_sees_the_premultiplied_fringe():
    """rembg's plain cutout stores α·colour as straight colour: a dark fringe, on white especially."""
    a = np.full((4, 4), 0.5)
    f = np.full((4, 4, 3), 0.8)
    assert metrics.composite_error(a, f * a[..., None], a, f) == pytest.approx(0.5 * 0.4 * 255)


def test_soft_band_dilates():
    a = np.zeros((20, 20))
    a[10, 10] = 0.5
    assert metrics.soft_band(a, 0).sum() == 1
    assert metrics.soft_band(a, 2).sum() == 25


def test_shapes_checked():
    with pytest.raises(ValueError, match="shapes"):
        metrics.sad(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="RGBA"):
        metrics.split_rgba(np.zeros((3, 3, 3), np.uint8))


def test_sign_test():
    assert sign_test_p(9, 9) == pytest.approx(1 / 512)
    assert sign_test_p(7, 9) > 0.05  # 7 of 9 is not enough to call it
    assert sign_test_p(0, 0) == 1.0


# --- crops --------------------------------------------------------------------

def test_crops_pick_an_edge_and_keep_pixels():
    layer = synthetic.procedural("veil", 128)
    comp = synthetic.composite(layer, "green")
    box = crops.edge_window(comp.alpha, 32)
    sub = comp.alpha[box[1]:box[3], box[0]:box[2]]
    assert ((sub > 0.02) & (sub < 0.98)).mean() > 0.2 and (sub >= 0.98).any()  # soft veil meeting the body
    gy, gx = np.gradient(comp.alpha)
    g = np.hypot(gx, gy)
    assert g[box[1]:box[3], box[0]:box[2]].mean() > 2 * g.mean()
    truth = crops.truth_rgba(comp)
    img = crops.side_by_side(comp, [("truth again", truth), ("as png", _png(truth, "RGBA"))], side=32, zoom=3)
    assert img.size == (4 * (96 + 4) - 4, crops.LABEL_H + 2 * 96 + 4)
    arr = np.asarray(img)
    t = arr[crops.LABEL_H:crops.LABEL_H + 96, 100:196]
    assert np.array_equal(t, arr[crops.LABEL_H:crops.LABEL_H + 96, 200:296])  # same pixels, array or PNG
    assert not np.array_equal(t, arr[crops.LABEL_H + 100:crops.LABEL_H + 196, 100:196])  # light ≠ dark
