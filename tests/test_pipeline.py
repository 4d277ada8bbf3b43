"""The real u2netp through `remove`: parity with rembg 2.0.86, straight colour, options, sessions."""

from __future__ import annotations

import io
import threading

import imagehash
import numpy as np
import pytest
from PIL import Image

from rembg_core import RemoveOptions, SessionConfig, get_session, remove
from rembg_core import session as session_mod
from rembg_core.pipeline import preprocess
from tests.conftest import png_bytes, subject_image

pytestmark = pytest.mark.model


@pytest.fixture
def rembg_session(model_path, monkeypatch):
    """rembg's own u2netp session, pointed at the very same file."""
    monkeypatch.setenv("U2NET_HOME", str(model_path.parent))
    from rembg import new_session

    return new_session("u2netp")


def edge_colour_error(cutout: Image.Image, source: Image.Image) -> float:
    """Mean |RGB out − RGB source| over half-transparent pixels (0 < α < 255)."""
    a = np.asarray(cutout)
    edge = (a[..., 3] > 0) & (a[..., 3] < 255)
    return float(np.abs(a[..., :3].astype(int) - np.asarray(source.convert("RGB")).astype(int))[edge].mean())


def test_parity_with_rembg_alpha_and_straight_colour(photos, rembg_session):
    """rembg 2.0.86's output computed live, on the same model file: the peer-suite fixtures where they
    are present and scikit-image's bundled photos always."""
    from rembg import remove as rembg_remove

    for path in photos:
        data = path.read_bytes()
        theirs = Image.open(io.BytesIO(rembg_remove(data, session=rembg_session)))
        ours = remove(data).image
        assert ours.size == theirs.size and ours.mode == "RGBA"
        delta = np.abs(np.asarray(ours)[..., 3].astype(int) - np.asarray(theirs)[..., 3].astype(int))
        assert delta.mean() <= 0.5, f"{path.name}: mean |Δα| = {delta.mean():.3f}"
        source = Image.open(path)
        assert edge_colour_error(ours, source) == 0.0, path.name  # straight colour, exactly
        assert edge_colour_error(theirs, source) > 1.0, path.name  # rembg's darkened fringe


@pytest.mark.parametrize("band_pixels", [1 << 20, 120])  # one band, and many bands of 2 rows
def test_cutout_keeps_every_visible_pixel_and_clears_the_rest(band_pixels, monkeypatch):
    from rembg_core import compose
    from rembg_core.compose import cutout

    monkeypatch.setattr(compose, "_BAND_PIXELS", band_pixels)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    alpha[::3] = 0
    out = np.asarray(cutout(Image.fromarray(rgb), Image.fromarray(alpha)))
    visible = alpha > 0
    assert np.array_equal(out[..., :3][visible], rgb[visible])  # straight colour wherever alpha > 0
    assert np.array_equal(out[..., 3], alpha)
    assert not out[~visible].any()


def test_golden_phash_matches_over_black(model_path, peer_suite):
    golden = Image.open(peer_suite / "expected" / "anime-girl-1.u2netp.png")
    ours = remove(peer_suite / "fixtures" / "anime-girl-1.jpg").image
    over_black = Image.alpha_composite(Image.new("RGBA", ours.size, (0, 0, 0, 255)), ours)
    assert imagehash.phash(over_black) == imagehash.phash(golden)


def test_result_shape_timings_and_config(model_path):
    cfg = SessionConfig(enable_cpu_mem_arena=False)
    result = remove(png_bytes(subject_image()), config=cfg)
    assert result.image.mode == "RGBA" and result.mask.mode == "L"
    assert result.image.size == result.mask.size == (400, 300)
    assert {"load", "session", "preprocess", "inference", "postprocess", "compose", "total"} <= set(result.timings)
    assert result.config == cfg
    alpha = np.asarray(result.mask)
    assert alpha[150, 200] > 200 and alpha[5, 5] < 50  # the disc is the subject, the corner is not


def test_preprocess_is_float32_and_matches_rembgs_float64_recipe(model_path):
    spec = get_session().spec
    im = subject_image()
    batch = preprocess(im, spec)
    assert batch.dtype == np.float32 and batch.shape == (1, 3, 320, 320)
    small = np.array(im.resize((320, 320), Image.Resampling.LANCZOS))
    a = small / max(np.max(small), 1e-6)
    expected = ((a - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1)[None]
    assert np.abs(batch - expected).max() < 1e-5


def test_options_only_mask_bgcolor_crop_post_process(model_path):
    data = png_bytes(subject_image())
    mask = remove(data, options=RemoveOptions(only_mask=True)).image
    assert mask.mode == "L" and mask.size == (400, 300)
    bg = remove(data, options=RemoveOptions(bgcolor=(0, 0, 255, 255))).image
    assert bg.getpixel((2, 2))[2] > 200 and bg.getpixel((2, 2))[3] == 255
    cropped = remove(data, options=RemoveOptions(crop=True))
    assert cropped.image.size == cropped.mask.size
    assert cropped.image.width < 400 and cropped.image.height < 300
    padded = remove(data, options=RemoveOptions(crop=True, crop_padding=10)).image
    assert padded.width == min(400, cropped.image.width + 20)
    hard = np.unique(np.asarray(remove(data, options=RemoveOptions(post_process_mask=True)).mask))
    assert set(hard.tolist()) <= {0, 255}


def test_max_size_caps_output_and_model_still_sees_its_input(model_path):
    result = remove(png_bytes(subject_image((1200, 900))), options=RemoveOptions(max_size=300))
    assert result.image.size == (300, 225)
    assert result.source.original_size == (1200, 900)


def test_input_transparency_is_respected(model_path):
    im = subject_image().convert("RGBA")
    im.paste((0, 0, 0, 0), (0, 0, 200, 300))  # left half fully transparent
    result = remove(png_bytes(im))
    assert np.asarray(result.mask)[:, :200].max() == 0


def test_flat_image_does_not_divide_by_zero(model_path):
    result = remove(png_bytes(Image.new("RGB", (64, 64), (128, 128, 128))))
    assert result.mask.size == (64, 64)
    assert np.isfinite(np.asarray(result.mask, dtype=float)).all()


def test_sessions_are_cached_per_config_and_released(model_path):
    a = SessionConfig(enable_mem_pattern=False)
    assert get_session(a) is get_session(a)
    assert get_session(a) is not get_session(SessionConfig())
    assert a in session_mod.cached_configs()
    assert session_mod.release(a) and a not in session_mod.cached_configs()
    assert not session_mod.release(a)


def test_cache_is_bounded(model_path):
    cache = session_mod.SessionCache(max_entries=2)
    configs = [SessionConfig(intra_op_num_threads=n) for n in (1, 2, 3)]
    for cfg in configs:
        cache.get(cfg)
    assert cache.configs() == configs[1:]


def test_concurrent_first_requests_build_one_session(model_path):
    cache = session_mod.SessionCache()
    cfg = SessionConfig(intra_op_num_threads=1, graph_optimization_level="basic")
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(cfg))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1


def test_config_validates():
    with pytest.raises(KeyError, match="unknown model"):
        SessionConfig(model="nope")
    with pytest.raises(ValueError):
        SessionConfig(graph_optimization_level="max")
    with pytest.raises(ValueError):
        SessionConfig(intra_op_num_threads=-1)
    assert hash(SessionConfig()) == hash(SessionConfig())
    ro = SessionConfig(arena_shrinkage=True).run_options()
    assert ro.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
    assert SessionConfig().run_options() is None
    assert SessionConfig(enable_cpu_mem_arena=False, arena_shrinkage=True) == SessionConfig(enable_cpu_mem_arena=False)
