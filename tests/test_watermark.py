"""Watermark studio: every step to the pixel, the chain, stamping, the CLI end to end."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from rembg_core import cli, preview
from rembg_core import watermark as W
from tests.conftest import ROOT, photo_named, png_bytes, subject_image

WHITE = (255, 255, 255)


def rgba(size, color=(0, 0, 0, 0)) -> Image.Image:
    return Image.new("RGBA", size, color)


def block_mark(size=(10, 6), color=(200, 20, 20, 255)) -> Image.Image:
    return rgba(size, color)


def changed_bbox(before: Image.Image, after: Image.Image):
    diff = np.any(np.asarray(before.convert("RGBA"), np.int16) != np.asarray(after.convert("RGBA"), np.int16), axis=2)
    ys, xs = np.nonzero(diff)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else None


def mixed_logo() -> tuple[Image.Image, np.ndarray, tuple[int, int, int]]:
    """A flat colour F on white whose left edge ramps through known coverages (what anti-aliasing makes)."""
    F = (20, 60, 200)
    coverage = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9]
    a = np.zeros((40, 60), np.float64)
    a[10:30, 20:40] = 1.0
    for i, c in enumerate(coverage):
        a[10:30, 14 + i] = c
    px = a[..., None] * np.asarray(F, np.float64) + (1 - a[..., None]) * 255.0
    return Image.fromarray(np.rint(px).astype(np.uint8), "RGB"), a, F


# --- specs ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"opacity": 1.5}, "opacity"), ({"opacity": -0.1}, "opacity"), ({"threshold": 0}, "threshold"),
    ({"threshold": 256}, "threshold"), ({"greyscale": True, "tint": WHITE}, "not both"),
    ({"source": "magic"}, "alpha source"), ({"tint": (255, 255)}, "tint"), ({"size": 0}, "size"),
    ({"padding": -1}, "padding"), ({"feather": -2}, "feather"),
])
def test_watermark_spec_refuses_bad_values(kwargs, words):
    with pytest.raises(ValueError, match=words):
        W.WatermarkSpec(**kwargs)


@pytest.mark.parametrize("kwargs, words", [
    ({"position": "middle"}, "unknown position"), ({"scale": 0}, "scale"), ({"scale": 1.5}, "scale"),
    ({"margin": -1}, "margin"), ({"spacing": -3}, "spacing"), ({"angle": float("nan")}, "angle"),
])
def test_placement_spec_refuses_bad_values(kwargs, words):
    with pytest.raises(ValueError, match=words):
        W.PlacementSpec(**kwargs)


# --- opacity, colour ------------------------------------------------------------

@pytest.mark.parametrize("opacity", [0.0, 0.3, 0.5, 0.77, 1.0])
def test_opacity_is_exact(opacity):
    alpha = np.arange(256, dtype=np.uint8).reshape(16, 16)
    im = rgba((16, 16), (10, 20, 30, 0))
    im.putalpha(Image.fromarray(alpha, "L"))
    out = np.asarray(W.apply_opacity(im, opacity))
    expected = np.array([round(int(v) * opacity) for v in alpha.ravel()], np.uint8).reshape(16, 16)
    assert np.array_equal(out[..., 3], expected)
    assert np.array_equal(out[..., :3], np.asarray(im)[..., :3])  # colour untouched


def test_opacity_30_percent_of_opaque_is_76():
    assert W.apply_opacity(block_mark(), 0.3).getpixel((0, 0))[3] == round(255 * 0.3) == 76


def test_apply_opacity_refuses_out_of_range():
    with pytest.raises(ValueError, match="between 0 and 1"):
        W.apply_opacity(block_mark(), 1.01)


def test_tint_sets_every_colour_and_keeps_alpha():
    im, _, _ = mixed_logo()
    keyed = W.extract(im, W.WatermarkSpec(source="key")).image
    out = np.asarray(W.tint(keyed, (255, 255, 255)))
    assert (out[..., :3] == 255).all()
    assert np.array_equal(out[..., 3], np.asarray(keyed)[..., 3])
    black = np.asarray(W.tint(keyed, (0, 0, 0)))
    assert (black[..., :3] == 0).all()


def test_greyscale_is_luma_with_alpha_kept():
    im = rgba((3, 1))
    im.putdata([(255, 0, 0, 255), (0, 255, 0, 128), (0, 0, 255, 7)])
    out = [tuple(p) for p in np.asarray(W.greyscale(im))[0].tolist()]
    assert out == [(76, 76, 76, 255), (150, 150, 150, 128), (29, 29, 29, 7)]  # ITU-R 601, as Pillow's L


# --- geometry ---------------------------------------------------------------------

def test_trim_to_the_exact_bounding_box_of_nonzero_alpha():
    im = rgba((100, 80))
    im.paste((0, 0, 0, 255), (10, 20, 30, 50))
    im.putpixel((70, 5), (0, 0, 0, 1))  # one barely visible pixel still counts
    assert W.alpha_bbox(im) == (10, 5, 71, 50)
    out = W.trim(im)
    assert out.size == (61, 45)
    assert out.getpixel((0, 15))[3] == 255 and out.getpixel((60, 0))[3] == 1


def test_trim_of_an_empty_image_keeps_it():
    assert W.trim(rgba((12, 9))).size == (12, 9)


def test_padding_adds_transparent_pixels_on_every_side():
    out = W.pad(block_mark((10, 6)), 7)
    assert out.size == (24, 20)
    a = np.asarray(out)[..., 3]
    assert (a[7:13, 7:17] == 255).all() and a.sum() == 255 * 60


def test_square_canvas_centres_the_mark():
    out = W.square_canvas(block_mark((10, 4)))
    assert out.size == (10, 10)
    assert W.alpha_bbox(out) == (0, 3, 10, 7)


def test_fit_longest_side():
    assert W.fit_longest(block_mark((200, 50)), 100).size == (100, 25)
    assert W.fit_longest(block_mark((50, 200)), 400).size == (100, 400)


def test_rotation_turns_counter_clockwise_and_is_trimmed():
    out = W.rotate(block_mark((40, 10)), 90)
    assert out.size == (10, 40)


# --- alpha sources --------------------------------------------------------------

def test_detect_background_and_plain_border():
    logo = W.sample_logo()
    assert W.detect_background(logo) == (WHITE, True)
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 50, 3), dtype=np.uint8), "RGB")
    assert W.detect_background(noisy)[1] is False


def test_choose_source():
    assert W.choose_source(W.sample_logo()) == "key"
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8), "RGB")
    assert W.choose_source(noisy) == "model"
    cut = block_mark((20, 20))
    cut.putpixel((0, 0), (0, 0, 0, 0))
    assert W.choose_source(cut) == "alpha"
    assert W.choose_source(cut, "key") == "key"


def test_colour_key_recovers_anti_aliased_coverage():
    im, coverage, _ = mixed_logo()
    alpha = np.asarray(W.color_key(im, WHITE, tolerance=16, softness=64), np.float64) / 255
    assert (alpha[10:30, 20:40] == 1).all()
    assert (alpha[:, :10] == 0).all() and (alpha[:5] == 0).all()
    edge = alpha[20, 14:20]
    expected = coverage[20, 14:20]
    # below the tolerance a mix counts as background; above it the coverage comes back within 1/8
    assert edge[0] == 0
    assert np.allclose(edge[2:], expected[2:], atol=0.13), (edge, expected)
    assert np.all(np.diff(edge) >= 0)


def test_colour_key_softness_zero_is_hard():
    im, _, _ = mixed_logo()
    alpha = np.asarray(W.color_key(im, WHITE, tolerance=100, softness=0))
    assert set(np.unique(alpha)) <= {0, 255}


def test_defringe_unmixes_the_background():
    F, B = (20, 60, 200), (255, 255, 255)
    im = rgba((4, 1))
    for x, a in enumerate((0.25, 0.5, 0.8, 1.0)):
        c = tuple(round(a * f + (1 - a) * b) for f, b in zip(F, B))
        im.putpixel((x, 0), c + (round(a * 255),))
    out = np.asarray(W.defringe(im, B))[0].tolist()
    for px in out:
        assert all(abs(p - f) <= 4 for p, f in zip(px[:3], F)), out
    assert [p[3] for p in out] == [64, 128, 204, 255]  # alpha untouched


def test_keyed_logo_on_dark_has_no_light_fringe():
    """The designer's check: a dark logo keyed off white must not glow on a dark photo."""
    im, _, F = mixed_logo()
    mark = W.make_watermark(im, W.WatermarkSpec(source="key")).image
    dark = np.asarray(W.on_background(mark, (0, 0, 0)), np.int16)
    # nothing in the composite is brighter than the logo colour itself
    assert (dark <= np.asarray(F) + 4).all()
    plain = W.make_watermark(im, W.WatermarkSpec(source="key", defringe=False)).image
    assert (np.asarray(W.on_background(plain, (0, 0, 0)), np.int16) > np.asarray(F) + 20).any()


def test_threshold_makes_a_hard_edge():
    im = rgba((3, 1))
    im.putdata([(9, 9, 9, 10), (9, 9, 9, 127), (9, 9, 9, 128)])
    assert np.asarray(W.threshold_alpha(im, 128))[0, :, 3].tolist() == [0, 0, 255]


def test_feather_softens_and_spreads_the_mark_colour():
    im = rgba((40, 40), (255, 255, 255, 0))  # white under alpha 0: must not bleed in
    im.paste((200, 20, 20, 255), (10, 10, 30, 30))
    out = np.asarray(W.feather_alpha(im, 3))
    assert 0 < out[20, 8, 3] < 255 and 0 < out[20, 11, 3] < 255
    visible = out[..., 3] >= 16
    assert (np.abs(out[visible][:, :3].astype(int) - (200, 20, 20)) <= 12).all()


def test_own_alpha_is_kept():
    im = block_mark((20, 20))
    im.paste((0, 0, 0, 0), (0, 0, 10, 20))
    wm = W.make_watermark(im, W.WatermarkSpec())
    assert wm.source == "alpha"
    assert np.array_equal(np.asarray(wm.mask), np.asarray(im.getchannel("A")))


# --- the chain --------------------------------------------------------------------

def test_designer_chain_white_30_percent_trimmed():
    logo = W.sample_logo()
    wm = W.make_watermark(logo, W.WatermarkSpec(trim=True, tint=WHITE, opacity=0.3))
    a = np.asarray(wm.image)
    assert wm.source == "key" and wm.background == WHITE
    assert (a[..., :3] == 255).all()
    assert a[..., 3].max() == 76
    assert W.alpha_bbox(wm.image) == (0, 0) + wm.image.size  # trimmed: content touches every edge
    assert wm.image.width < logo.width and wm.image.height < logo.height


def test_size_then_padding_then_square():
    logo = W.sample_logo()
    out = W.make_watermark(logo, W.WatermarkSpec(trim=True, size=200, padding=10)).image
    assert max(out.size) == 220
    sq = W.make_watermark(logo, W.WatermarkSpec(trim=True, size=200, padding=10, square=True)).image
    assert sq.size == (220, 220)


def test_export_png_and_lossless_webp_round_trip():
    wm = W.make_watermark(W.sample_logo(), W.WatermarkSpec(trim=True, opacity=0.5)).image
    for fmt in ("png", "webp"):
        back = Image.open(io.BytesIO(W.encode_photo(wm, fmt))).convert("RGBA")
        assert np.array_equal(np.asarray(back), np.asarray(wm)), fmt
    mask = Image.open(io.BytesIO(W.encode_photo(wm.getchannel("A"), "png")))
    assert mask.mode == "L" and np.array_equal(np.asarray(mask), np.asarray(wm)[..., 3])


# --- stamping -----------------------------------------------------------------------

@pytest.mark.parametrize("position, xy", [
    ("top-left", (5, 5)), ("top", (45, 5)), ("top-right", (85, 5)),
    ("left", (5, 37)), ("center", (45, 37)), ("right", (85, 37)),
    ("bottom-left", (5, 69)), ("bottom", (45, 69)), ("bottom-right", (85, 69)),
])
def test_nine_positions(position, xy):
    photo = Image.new("RGB", (100, 80), (90, 90, 90))
    out = W.stamp(photo, block_mark((10, 6)), W.PlacementSpec(position=position, scale=None, margin=5))
    assert W.position_xy((100, 80), (10, 6), position, 5) == xy
    assert changed_bbox(photo, out) == (xy[0], xy[1], xy[0] + 10, xy[1] + 6)
    assert out.getpixel(xy) == (200, 20, 20)


def test_default_margin_is_3_percent_of_the_shorter_side():
    photo = Image.new("RGB", (400, 200), (90, 90, 90))
    out = W.stamp(photo, block_mark((10, 6)), W.PlacementSpec(scale=None))
    assert changed_bbox(photo, out) == (384, 188, 394, 194)


def test_scale_is_a_fraction_of_the_photo_width():
    placed = W.mark_for((1000, 600), block_mark((100, 20)), W.PlacementSpec(scale=0.2))
    assert placed.size == (200, 40)
    # a tall mark is shrunk to fit inside the margins
    tall = W.mark_for((1000, 300), block_mark((20, 100)), W.PlacementSpec(scale=0.5, margin=10))
    assert tall.height == 280


def test_tile_positions_grid():
    spots = W.tile_positions((100, 60), (20, 10), spacing=10, stagger=False)
    xs = sorted({x for x, _ in spots})
    ys = sorted({y for _, y in spots})
    assert (40, 25) in spots  # one tile exactly in the centre
    assert xs == [10, 40, 70] and ys == [5, 25, 45]  # a tile at x=-20 would end at 0: not listed
    assert len(spots) == 9
    staggered = W.tile_positions((100, 60), (20, 10), spacing=10, stagger=True)
    assert sorted({x for x, y in staggered if y == 5}) == [-5, 25, 55, 85]  # odd row: half a step right
    assert sorted({x for x, y in staggered if y == 25}) == [10, 40, 70]


def test_tile_positions_cover_the_photo_when_spacing_is_zero():
    for size in [(97, 61), (10, 300), (301, 7)]:
        cover = np.zeros(size[::-1], bool)
        for x, y in W.tile_positions(size, (13, 9), spacing=0, stagger=True):
            assert x < size[0] and y < size[1] and x + 13 > 0 and y + 9 > 0
            cover[max(0, y):y + 9, max(0, x):x + 13] = True
        assert cover.all(), size


def test_tiled_stamp_touches_the_expected_tiles():
    photo = Image.new("RGB", (100, 60), (90, 90, 90))
    out = W.stamp(photo, block_mark((20, 10)), W.PlacementSpec(position="tile", scale=None, spacing=10, stagger=False))
    a = np.asarray(out)
    red = np.all(a == (200, 20, 20), axis=2)
    expected = np.zeros_like(red)
    for x, y in W.tile_positions((100, 60), (20, 10), 10, stagger=False):
        expected[max(0, y):y + 10, max(0, x):x + 20] = True
    assert np.array_equal(red, expected)


@pytest.mark.parametrize("mode, fmt, expect", [
    ("RGB", "JPEG", "RGB"), ("RGBA", "PNG", "RGBA"), ("L", "PNG", "L"), ("L", "JPEG", "L"),
    ("LA", "PNG", "LA"), ("P", "PNG", "RGB"), ("RGB", "WEBP", "RGB"),
])
def test_photo_mode_is_preserved(mode, fmt, expect):
    photo = subject_image((120, 90)).convert(mode)
    data = png_bytes(photo, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    loaded = W.load_photo(data)
    assert loaded.mode == expect and loaded.size == (120, 90)
    out = W.stamp(loaded, block_mark((30, 10)), W.PlacementSpec(scale=0.25))
    assert out.mode == expect and out.size == (120, 90)
    fmt_out = W.photo_format(loaded)
    back = Image.open(io.BytesIO(W.encode_photo(out, fmt_out)))
    assert back.mode == expect and back.size == (120, 90)


def test_opaque_rgba_file_stays_rgba():
    photo = subject_image((60, 40)).convert("RGBA")
    assert W.load_photo(png_bytes(photo)).mode == "RGBA"


def test_stamp_over_a_transparent_photo_area_shows_the_mark():
    photo = rgba((50, 50))
    out = W.stamp(photo, block_mark((10, 10)), W.PlacementSpec(position="center", scale=None))
    assert out.mode == "RGBA" and out.getpixel((25, 25)) == (200, 20, 20, 255)


def test_jpeg_refuses_transparency():
    with pytest.raises(ValueError, match="transparency"):
        W.encode_photo(rgba((4, 4)), "jpeg")


def test_exif_rotated_photo_is_stamped_upright():
    stored = Image.new("RGB", (60, 40), (30, 30, 30))
    stored.paste((250, 250, 250), (0, 0, 60, 10))  # a bright band along the stored top
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    data = png_bytes(stored, "JPEG", quality=95, exif=exif.tobytes())
    photo = W.load_photo(data)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert photo.size == upright.size == (40, 60)
    assert np.abs(np.asarray(photo, int) - np.asarray(upright, int)).max() <= 2
    out = W.stamp(photo, block_mark((8, 8)), W.PlacementSpec(scale=None, margin=2))
    assert out.size == (40, 60)
    assert changed_bbox(photo, out) == (30, 50, 38, 58)  # bottom-right as displayed
    assert np.asarray(out)[30, 36].mean() > 200  # the stored top band now runs down the right side


def test_sample_logo_is_a_flat_logo_on_white():
    logo = W.sample_logo((360, 180))
    assert logo.size == (360, 180) and logo.mode == "RGB"
    assert W.detect_background(logo) == (WHITE, True)
    mask = W.make_watermark(logo).mask
    assert 0.1 < np.asarray(mask).mean() / 255 < 0.6


# --- model ------------------------------------------------------------------------

@pytest.mark.model
def test_model_source_uses_the_real_u2netp(model_path, photos):
    from rembg_core import remove

    photo = Image.open(photo_named(photos, "car", "chelsea")).convert("RGB")
    assert W.choose_source(photo) == "model"  # a photo's border is not one colour
    wm = W.make_watermark(photo, W.WatermarkSpec(source="auto", trim=True))
    assert wm.source == "model" and wm.background is None
    expected = remove(photo).mask.point(lambda v: 0 if v <= W.MODEL_HAZE else v)  # haze cleared
    box = expected.getbbox()
    assert box != (0, 0) + photo.size  # so that trimming trims
    assert wm.image.size == (box[2] - box[0], box[3] - box[1])
    assert np.array_equal(np.asarray(wm.mask), np.asarray(expected.crop(box)))
    # the car is kept, the sky at the top-left corner is not
    assert np.asarray(expected)[photo.height * 6 // 10, photo.width // 2] > 200
    assert np.asarray(expected)[5, 5] < 30


# --- CLI ------------------------------------------------------------------------

def run_cli(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


def test_cli_designer_flow(tmp_path, capsys):
    """Logo on white → trimmed, white, 30 % transparent PNG; a photo stamped bottom-right."""
    logo_path = tmp_path / "logo.png"
    W.sample_logo().save(logo_path)
    photo = Image.new("RGB", (800, 600), (40, 60, 80))  # a dusky photo, where a white mark shows
    ImageDraw.Draw(photo).ellipse((200, 150, 600, 450), fill=(160, 40, 40))
    photo_path = tmp_path / "photo.jpg"
    photo.save(photo_path, quality=95)
    out, mask, stamped = tmp_path / "mark.png", tmp_path / "mask.png", tmp_path / "stamped.jpg"
    code = run_cli("watermark", logo_path, "-o", out, "--trim", "--tint", "#FFFFFF", "--opacity", "0.3",
                   "--mask", mask, "--onto", photo_path, "--position", "bottom-right", "-O", stamped)
    assert code == 0, capsys.readouterr().err
    mark = Image.open(out)
    assert mark.format == "PNG" and mark.mode == "RGBA"
    a = np.asarray(mark)
    assert (a[..., :3] == 255).all() and a[..., 3].max() == 76 and a[..., 3].min() == 0
    assert W.alpha_bbox(mark) == (0, 0) + mark.size
    assert np.array_equal(np.asarray(Image.open(mask)), a[..., 3])
    result = Image.open(stamped)
    assert result.format == "JPEG" and result.mode == "RGB" and result.size == (800, 600)
    # the photo through the same JPEG encoder without a mark: 16×16 blocks away from the mark
    # come out bit-identical, so "nowhere else" can be checked exactly
    reference = Image.open(io.BytesIO(W.encode_photo(W.load_photo(photo_path), "jpeg")))
    diff = np.abs(np.asarray(result, int) - np.asarray(reference, int)).sum(axis=2)
    w = round(800 * 0.2)
    h = round(w * mark.height / mark.width)
    m = round(0.03 * 600)
    x0, y0 = 800 - m - w, 600 - m - h
    assert diff[y0:y0 + h, x0:x0 + w].max() > 100  # the white mark is there
    outside = diff.copy()
    outside[y0 // 16 * 16 - 16:, x0 // 16 * 16 - 16:] = 0  # (chroma upsampling reaches one block out)
    assert outside.max() == 0  # and nowhere else
    assert diff[y0 + h + 16:, :].max() == 0  # the margin below it is untouched


def test_cli_runs_as_a_module(tmp_path):
    logo_path = tmp_path / "logo.png"
    W.sample_logo((200, 100)).save(logo_path)
    proc = subprocess.run([sys.executable, "-m", "rembg_core", "watermark", str(logo_path), "-o",
                           str(tmp_path / "m.webp"), "--greyscale", "--feather", "1", "--size", "120"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    im = Image.open(tmp_path / "m.webp")
    assert im.format == "WEBP" and max(im.size) == 120


def test_cli_tile_into_a_folder_with_one_bad_photo(tmp_path, capsys):
    logo_path = tmp_path / "logo.png"
    W.sample_logo((200, 100)).save(logo_path)
    good = tmp_path / "good.png"
    subject_image((300, 200)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not really a jpeg")
    code = run_cli("watermark", logo_path, "-o", tmp_path / "m.png", "--onto", bad, good,
                   "--position", "tile", "--angle", "30", "--opacity", "0.4", "-O", tmp_path / "out")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err == [f"error: {bad}: not a supported image (expected JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF…)"] \
        or (len(err) == 1 and err[0].startswith(f"error: {bad}: "))
    assert (tmp_path / "out" / "good-watermarked.png").exists()


@pytest.mark.parametrize("argv, code, text", [
    (["--opacity", "1.5"], 2, "between 0 and 1"),
    (["--position", "middle", "--onto", "x.jpg", "-O", "y.jpg"], 2, "invalid choice"),
    (["--onto", "x.jpg"], 2, "go together"),
    (["--tint", "#FFF", "--greyscale"], 2, "not allowed with"),
    (["--tint", "#GGHHII"], 2, "colour"),
])
def test_cli_usage_errors(tmp_path, capsys, argv, code, text):
    logo_path = tmp_path / "logo.png"
    W.sample_logo((100, 50)).save(logo_path)
    with pytest.raises(SystemExit) as exc:
        exit_code = run_cli("watermark", logo_path, "-o", tmp_path / "m.png", *argv)
        raise SystemExit(exit_code)
    assert exc.value.code == code
    assert text in capsys.readouterr().err


@pytest.mark.parametrize("content, reason", [
    (None, "no such file"), (b"", "empty"), (b"%PDF-1.4 hello", "PDF"),
])
def test_cli_bad_logo_is_one_line_exit_3(tmp_path, capsys, content, reason):
    logo = tmp_path / "logo.png"
    if content is not None:
        logo.write_bytes(content)
    assert run_cli("watermark", logo, "-o", tmp_path / "m.png") == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {logo}: ") and reason in err[0]
    assert not (tmp_path / "m.png").exists()


def test_cli_refuses_a_jpeg_watermark(tmp_path, capsys):
    logo = tmp_path / "logo.png"
    W.sample_logo((100, 50)).save(logo)
    assert run_cli("watermark", logo, "-o", tmp_path / "m.jpg") == 2
    assert "png or .webp" in capsys.readouterr().err


@pytest.mark.model
def test_cli_model_source(tmp_path, model_path, photos, capsys):
    src = photo_named(photos, "car", "chelsea")
    out = tmp_path / "car-mark.png"
    assert run_cli("watermark", src, "-o", out, "--source", "model", "--trim", "--threshold", "128") == 0
    assert "alpha from model" in capsys.readouterr().out
    a = np.asarray(Image.open(out))[..., 3]
    assert set(np.unique(a)) == {0, 255}


@pytest.mark.parametrize("text, rgb", [
    ("#FFF", (255, 255, 255)), ("#ffffff", (255, 255, 255)), ("white", (255, 255, 255)),
    ("Black", (0, 0, 0)), ("12,34,56", (12, 34, 56)), ("#1e40af", (30, 64, 175)),
])
def test_parse_rgb(text, rgb):
    assert W.parse_rgb(text) == rgb


@pytest.mark.parametrize("text", ["#GGG", "300,0,0", "#FFFFFF80", "pink", ""])
def test_parse_rgb_refuses(text):
    with pytest.raises(ValueError, match="colour"):
        W.parse_rgb(text)


def test_local_max_matches_brute_force():
    a = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    r = 3
    p = np.pad(a, r, mode="edge")
    brute = np.array([[p[y:y + 2 * r + 1, x:x + 2 * r + 1].max() for x in range(53)] for y in range(37)])
    assert np.array_equal(W.alpha._local_max(a, r), brute)


def test_previews_on_checker_and_solid():
    light, dark = preview.MID_GREYS
    board = np.asarray(W.on_background(rgba((24, 12), (0, 0, 0, 0))))
    assert tuple(board[0, 0]) == light and tuple(board[0, 12]) == dark
    assert tuple(board[11, 11]) == light
    mark = rgba((4, 4), (255, 255, 255, 128))
    out = W.on_background(mark, (0, 0, 0), border=2)
    assert out.mode == "RGB" and out.size == (8, 8)
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((3, 3)) == (128, 128, 128)


def test_tint_skips_defringe_but_greyscale_keeps_it():
    im, _, _ = mixed_logo()
    tinted = W.make_watermark(im, W.WatermarkSpec(source="key", tint=(255, 255, 255)))
    assert (np.asarray(tinted.image)[..., :3] == 255).all()
    grey = np.asarray(W.make_watermark(im, W.WatermarkSpec(source="key", greyscale=True)).image)
    plain = np.asarray(W.make_watermark(im, W.WatermarkSpec(source="key", greyscale=True, defringe=False)).image)
    soft = (grey[..., 3] > 0) & (grey[..., 3] < 255)
    assert (grey[soft][:, 0] < plain[soft][:, 0]).all()  # un-mixed edges are darker (less white in them)


def test_cli_two_photos_with_one_name_never_overwrite_each_other(tmp_path, capsys):
    """a/x.jpg and b/x.jpg stamped into one folder become x-watermarked.jpg and x-watermarked-2.jpg."""
    logo_path = tmp_path / "logo.png"
    W.sample_logo((200, 100)).save(logo_path)
    photos = []
    for folder, colour in (("a", (200, 30, 30)), ("b", (30, 30, 200))):
        (tmp_path / folder).mkdir()
        photos.append(tmp_path / folder / "x.jpg")
        Image.new("RGB", (320, 240), colour).save(photos[-1], quality=95)
    out = tmp_path / "stamped"
    assert run_cli("watermark", logo_path, "-o", tmp_path / "m.png", "--onto", *photos, "-O", out) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["x-watermarked-2.jpg", "x-watermarked.jpg"]
    reds = [np.asarray(Image.open(out / n))[5, 5, 0] for n in ("x-watermarked.jpg", "x-watermarked-2.jpg")]
    assert reds[0] > 150 > 60 > reds[1]  # each photo kept, in input order
    assert capsys.readouterr().out.count(" -> ") == 3  # the mark and both photos


def test_cli_unwritable_mark_exits_1_like_every_command(tmp_path, capsys):
    logo_path = tmp_path / "logo.png"
    W.sample_logo((200, 100)).save(logo_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run_cli("watermark", logo_path, "-o", blocker / "m.png") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {blocker / 'm.png'}: cannot write")
