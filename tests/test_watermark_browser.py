"""The designer's flow in a real browser: a logo on white → a trimmed, white, 30 % watermark PNG and
a photo stamped bottom-right, downloaded from `streamlit run app.py` through Debian's Chromium.

The page's defaults are that watermark, so the flow is: open the page, upload two files, click two
buttons. (How long that takes is a person's business; the test only checks what comes out.)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from rembg_core import watermark as W
from tests.browser_support import VIEWPORT, assert_images_loaded, assert_no_exception, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_designer_downloads_a_white_30_percent_mark_and_a_stamped_photo(server, browser, artifacts, tmp_path):
    logo = tmp_path / "acme-logo.png"
    W.sample_logo().save(logo)
    photo = tmp_path / "holiday.jpg"
    im = Image.new("RGB", (1200, 800), (40, 60, 80))
    ImageDraw.Draw(im).ellipse((300, 150, 900, 650), fill=(160, 40, 40))
    im.save(photo, quality=92)

    page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    page.goto(server)
    page.wait_for_selector("h1", timeout=60_000)
    settle(page)
    page.get_by_role("link", name="Watermark").click()
    page.wait_for_selector("text=Watermark studio", timeout=60_000)
    settle(page)
    assert_no_exception(page)
    page.screenshot(path=artifacts / "browser-watermark-sample.png")

    uploads = page.locator("[data-testid=stFileUploader] input[type=file]")
    uploads.nth(0).set_input_files(str(logo))
    page.wait_for_selector("text=acme-logo.png →", timeout=60_000)
    settle(page)
    uploads.nth(1).set_input_files(str(photo))
    page.wait_for_selector("text=holiday.jpg — 1200×800 RGB", timeout=60_000)
    settle(page)
    assert_no_exception(page)
    assert_images_loaded(page, 4)
    page.screenshot(path=artifacts / "browser-watermark-designer.png")

    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="Watermark PNG").click()
    assert got.value.suggested_filename == "acme-logo-watermark.png"
    mark = Image.open(io.BytesIO(Path(got.value.path()).read_bytes()))
    assert mark.format == "PNG" and mark.mode == "RGBA"
    a = np.asarray(mark)
    assert (a[..., :3] == 255).all()  # white
    assert a[..., 3].max() == 76 and a[..., 3].min() == 0  # 30 % of opaque, transparent around
    assert mark.getchannel("A").getbbox() == (0, 0) + mark.size  # trimmed
    assert mark.width < 720 and mark.height < 360

    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="Download holiday-watermarked.jpg").click()
    stamped = Image.open(io.BytesIO(Path(got.value.path()).read_bytes()))
    assert stamped.format == "JPEG" and stamped.mode == "RGB" and stamped.size == (1200, 800)
    diff = np.abs(np.asarray(stamped, int) - np.asarray(Image.open(photo), int)).sum(axis=2)
    w = round(1200 * 0.2)
    h = round(w * mark.height / mark.width)
    m = round(0.03 * 800)
    assert diff[800 - m - h:800 - m, 1200 - m - w:1200 - m].max() > 100  # the mark is in the bottom-right
    assert diff[:400, :600].max() < 40  # the top-left is the photo (JPEG re-encoding aside)

    # several photos: one zip with each stamped at full size, formats kept
    second = tmp_path / "poster.png"
    Image.new("RGBA", (500, 700), (200, 200, 60, 255)).save(second)
    uploads.nth(1).set_input_files(str(second))  # added to the uploader's list
    page.wait_for_selector("text=poster.png — 500×700 RGBA", timeout=60_000)
    settle(page)
    assert_no_exception(page)
    with page.expect_download(timeout=120_000) as got:
        page.get_by_role("button", name="Download all 2 stamped photos (zip)").click()
    assert got.value.suggested_filename == "acme-logo-watermarked.zip"
    with zipfile.ZipFile(got.value.path()) as zf:
        assert sorted(zf.namelist()) == ["holiday-watermarked.jpg", "poster-watermarked.png"]
        poster = Image.open(io.BytesIO(zf.read("poster-watermarked.png")))
        assert poster.mode == "RGBA" and poster.size == (500, 700)
        assert Image.open(io.BytesIO(zf.read("holiday-watermarked.jpg"))).size == (1200, 800)
    page.screenshot(path=artifacts / "browser-watermark-two-photos.png")
    page.close()
