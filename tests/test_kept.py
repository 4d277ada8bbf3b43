"""What the Remove page keeps of a result (encoded files and thumbnails, never full-size arrays), and
recomposing from the kept mask without running the model again."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rembg_core import RemoveOptions
from rembg_core.dashboard import kept
from rembg_core.pipeline import remove
from tests.conftest import png_bytes, subject_image

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def big(model_path) -> tuple[bytes, kept.Kept]:
    data = png_bytes(subject_image((3000, 2000)))
    result = remove(data)
    return data, kept.keep(result, ("big", "cfg", None), "big.png")


def test_a_kept_result_holds_encoded_files_and_thumbnails_only(big):
    _, k = big
    assert k.size == (3000, 2000) and Image.open(io.BytesIO(k.image_png)).size == (3000, 2000)  # downloads: full size
    assert max(k.before_size) <= kept.PREVIEW_SIDE and max(k.after_size) <= kept.PREVIEW_SIDE
    assert Image.open(io.BytesIO(k.before)).size == k.before_size  # encoded previews, not arrays
    assert Image.open(io.BytesIO(k.after)).size == k.after_size
    full_rgba = 3000 * 2000 * 4
    assert k.nbytes < full_rgba / 4, f"keeps {k.nbytes / 1e6:.1f} MB; the RGBA alone is {full_rgba / 1e6:.0f} MB"
    assert k.inferences == 1 and "inference" in k.timings


@pytest.mark.parametrize("options", [RemoveOptions(crop=True), RemoveOptions(bgcolor=(0, 128, 255, 255)),
                                     RemoveOptions(only_mask=True, post_process_mask=True)])
def test_recompose_equals_a_full_run_without_the_model(big, options):
    data, k = big
    again = kept.recompose(k, data, options)
    assert again.inferences == 0 and "inference" not in again.timings and again.mask_key == k.mask_key
    direct = remove(data, options=options)
    got = np.asarray(Image.open(io.BytesIO(again.image_png)))
    assert got.shape == np.asarray(direct.image).shape
    assert np.array_equal(got, np.asarray(direct.image))


def test_a_crop_is_previewed_at_the_input_previews_scale(big):
    data, k = big
    cropped = kept.recompose(k, data, RemoveOptions(crop=True))
    factor = k.before_size[0] / 3000
    assert cropped.before_size == k.before_size
    assert cropped.after_size == (round(cropped.size[0] * factor), round(cropped.size[1] * factor))
