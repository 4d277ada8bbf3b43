"""Safe loading on synthetic images: every mode, EXIF, limits, reduced-scale JPEG decode, encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rembg_core import load_image
from rembg_core.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageLoadError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
)
from rembg_core.imageio import encode
from tests.conftest import png_bytes, subject_image, traced_peak


def test_rgb_png_round_trips():
    src = subject_image()
    loaded = load_image(png_bytes(src))
    assert loaded.rgb.mode == "RGB" and loaded.alpha is None
    assert loaded.format == "PNG" and loaded.original_size == loaded.size == (400, 300)
    assert np.array_equal(np.asarray(loaded.rgb), np.asarray(src))


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "CMYK", "YCbCr"])
def test_opaque_modes_become_rgb_without_alpha(mode):
    im = subject_image(mode=mode)
    fmt = "JPEG" if mode in ("CMYK", "YCbCr") else "PNG"
    loaded = load_image(png_bytes(im, "TIFF" if mode == "YCbCr" else fmt) if mode != "YCbCr" else im)
    assert loaded.rgb.mode == "RGB" and loaded.alpha is None and loaded.size == (400, 300)


def test_own_transparency_is_kept_rgba_la_and_palette():
    rgba = subject_image().convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    for im in (rgba, rgba.convert("LA"), rgba.convert("P")):
        data = png_bytes(im if im.mode != "P" else rgba.quantize(colors=64, method=Image.Quantize.FASTOCTREE))
        loaded = load_image(data)
        assert loaded.alpha is not None and loaded.alpha.mode == "L", im.mode
    # palette with one transparent index
    p = Image.new("P", (20, 10), 0)
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.paste(1, (0, 0, 10, 10))
    loaded = load_image(png_bytes(p, transparency=0))
    assert np.asarray(loaded.alpha)[:, :10].min() == 255 and np.asarray(loaded.alpha)[:, 10:].max() == 0


def test_fully_opaque_alpha_is_dropped():
    loaded = load_image(png_bytes(subject_image().convert("RGBA")))
    assert loaded.alpha is None


def test_16_bit_grey_png_is_scaled_not_clipped_to_white():
    ramp = np.tile(np.linspace(0, 65535, 256), (16, 1)).astype(np.uint16)
    data = png_bytes(Image.fromarray(ramp))
    rgb = np.asarray(load_image(data).rgb)
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255
    assert abs(int(rgb[0, 128, 0]) - 128) <= 2  # mid-grey stays mid-grey (Pillow's convert: white)
    assert any("16-bit" in n for n in load_image(data).notes)


def test_float_tiff_in_unit_range_is_scaled():
    a = np.linspace(0.0, 1.0, 100, dtype=np.float32).reshape(10, 10)
    loaded = load_image(png_bytes(Image.fromarray(a), "TIFF"))
    rgb = np.asarray(loaded.rgb)
    assert rgb.min() == 0 and rgb.max() == 255


def test_32_bit_integer_image_with_wide_range_is_stretched():
    a = np.arange(-500, 500, dtype=np.int32).reshape(20, 50) * 1000
    loaded = load_image(Image.fromarray(a))
    rgb = np.asarray(loaded.rgb)
    assert rgb.min() == 0 and rgb.max() == 255 and any("stretched" in n for n in loaded.notes)


@pytest.mark.parametrize("orientation,expected_size", [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))])
def test_exif_orientation_is_applied(orientation, expected_size):
    im = Image.new("RGB", (40, 20), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 10, 10))  # red square top-left as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    loaded = load_image(png_bytes(im, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.size == loaded.original_size == expected_size
    a = np.asarray(loaded.rgb).astype(int)
    red = np.argwhere((a[:, :, 0] > 200) & (a[:, :, 2] < 60))
    corner = (red[:, 0].mean() < expected_size[1] / 2, red[:, 1].mean() < expected_size[0] / 2)
    # where the stored top-left ends up once displayed
    assert corner == {1: (True, True), 3: (False, False), 6: (True, False), 8: (False, True)}[orientation]


def test_animated_gif_uses_first_frame_with_a_note():
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(buf.getvalue())
    assert tuple(np.asarray(loaded.rgb)[0, 0]) == (255, 0, 0)
    assert any("3 frames" in n for n in loaded.notes)


def test_max_size_caps_the_longest_side_and_never_upscales():
    data = png_bytes(subject_image((1000, 500)))
    assert load_image(data, max_size=200).size == (200, 100)
    assert load_image(data, max_size=2000).size == (1000, 500)
    with pytest.raises(ValueError):
        load_image(data, max_size=0)


def test_capped_jpeg_is_never_decoded_at_full_size():
    big = subject_image((4000, 3000))
    data = png_bytes(big, "JPEG", quality=80)
    del big
    with traced_peak() as peak_now:
        loaded = load_image(data, max_size=400)
        peak = peak_now()
    assert loaded.size == (400, 300)
    assert loaded.decoded_size == (500, 375)  # DCT-scaled by 1/8, not 4000×3000
    assert peak < 4000 * 3000 * 3 / 4  # far less than one full-size RGB frame (36 MB)


def test_pixel_limit_is_enforced_from_the_header_before_decoding():
    # A valid PNG of 12000×12000 compresses to ~140 KB and would decode to 432 MB.
    data = png_bytes(Image.new("L", (12000, 12000), 0), optimize=True)
    assert len(data) < 1_000_000
    with traced_peak() as peak_now:
        with pytest.raises(TooManyPixelsError, match=r"12000×12000 is 144 MP, over the 100 MP limit"):
            load_image(data)
        peak = peak_now()
    assert peak < 5_000_000
    with pytest.raises(TooManyPixelsError):
        load_image(png_bytes(Image.new("L", (200, 200))), max_pixels=10_000)


@pytest.mark.parametrize("data,error,message", [
    (b"", EmptyImageError, "empty"),
    (b"hello, world\n", NotAnImageError, "text file"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", NotAnImageError, "PDF document"),
    (b"<!DOCTYPE html><html></html>", NotAnImageError, "HTML page"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', NotAnImageError, "SVG"),
    (b"PK\x03\x04" + b"\x00" * 40, NotAnImageError, "ZIP archive"),
])
def test_non_images_are_refused_with_what_they_are(data, error, message):
    with pytest.raises(error, match=message):
        load_image(data)


def test_truncated_jpeg_is_refused():
    data = png_bytes(subject_image(), "JPEG")
    with pytest.raises(TruncatedImageError, match="truncated"):
        load_image(data[: len(data) // 2])


def test_png_with_damaged_header_is_refused():
    data = png_bytes(subject_image())
    with pytest.raises(ImageLoadError):
        load_image(data[:20])
    with pytest.raises(CorruptImageError):
        load_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)


def test_paths_errors_are_human(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(NotAnImageError, match="folder"):
        load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(EmptyImageError):
        load_image(tmp_path / "empty.png")


def test_caller_image_is_not_mutated_or_shared():
    src = subject_image()
    loaded = load_image(src)
    assert loaded.rgb is not src
    loaded.rgb.putpixel((0, 0), (1, 2, 3))
    assert src.getpixel((0, 0)) == (235, 235, 235)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_encode_keeps_straight_alpha_exactly(fmt):
    im = subject_image((64, 48)).convert("RGBA")
    im.putalpha(Image.linear_gradient("L").resize(im.size))
    back = Image.open(io.BytesIO(encode(im, fmt)))
    assert back.mode == "RGBA"
    assert np.array_equal(np.asarray(back), np.asarray(im))
