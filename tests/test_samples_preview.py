"""The dashboard's sample images and the checkerboard preview."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rembg_core import preview, samples


def test_drawn_samples_are_always_there_and_deterministic():
    available = samples.available()
    drawn = [s for name, s in available.items() if "(drawn)" in name]
    assert len(drawn) == 2
    for sample in drawn:
        a, b = sample.load(), sample.load()
        assert a.mode == "RGB" and min(a.size) >= 512
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_package_photos_load_when_listed():
    for name, sample in samples.available().items():
        if "(drawn)" not in name:
            assert sample.load().mode == "RGB"


@pytest.mark.model
def test_the_apple_is_found_by_the_real_model(model_path):
    from rembg_core import remove

    result = remove(samples.apple_scene())
    mask = np.asarray(result.mask)
    w, h = result.mask.size
    assert mask[int(h * 0.52), int(w * 0.5)] > 200  # the apple's centre
    assert mask[5, 5] < 30 and mask[h - 5, 5] < 30  # wall and table


def test_checkerboard_pattern():
    board = np.asarray(preview.checkerboard((64, 32), cell=16))
    assert board.shape == (32, 64, 3)
    assert tuple(board[0, 0]) == preview.LIGHT and tuple(board[0, 16]) == preview.DARK
    assert tuple(board[16, 0]) == preview.DARK and tuple(board[16, 16]) == preview.LIGHT
    with pytest.raises(ValueError):
        preview.checkerboard((4, 4), cell=0)


def test_on_checkerboard_shows_board_where_transparent_and_colour_where_opaque():
    im = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    im.paste((200, 30, 30, 255), (40, 0, 80, 80))
    out = np.asarray(preview.on_checkerboard(im, cell=8))
    assert out.shape == (80, 80, 3)
    assert {tuple(out[0, 0]), tuple(out[0, 8])} == {preview.LIGHT, preview.DARK}
    assert tuple(out[10, 60]) == (200, 30, 30)
    mask = Image.new("L", (10, 10), 128)
    assert preview.on_checkerboard(mask).mode == "RGB"
