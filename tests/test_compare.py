"""The before/after view: self-contained HTML that keeps alpha, and (in real Chromium) a slider that moves."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from rembg_core.dashboard import compare
from tests.conftest import png_bytes


def _pair(size=(120, 80)) -> tuple[Image.Image, Image.Image]:
    w, h = size
    photo = Image.new("RGB", size, (30, 160, 60))
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)  # colour under alpha 0 that must never bleed into the edge
    rgba[h // 4:3 * h // 4, w // 4:3 * w // 4] = (0, 0, 255, 255)
    rgba[h // 4:3 * h // 4, 3 * w // 4, :] = (0, 0, 255, 100)  # a soft column
    return photo, Image.fromarray(rgba, "RGBA")


def _images(doc: str) -> dict[str, str]:
    return dict(re.findall(r'<img class="(\w+)" alt="[^"]*" src="([^"]+)"', doc))


def test_self_contained_no_external_urls():
    photo, cut = _pair()
    doc = compare.compare_html(photo, cut)
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/|<link|@import|url\(", doc, re.I)
    srcs = re.findall(r'src="([^"]*)"', doc)
    assert len(srcs) == 2 and all(s.startswith("data:image/") for s in srcs)
    assert "<script src" not in doc


def test_cutout_keeps_its_alpha_exactly():
    photo, cut = _pair()
    uri = _images(compare.compare_html(photo, cut))["cutout"]
    assert uri.startswith("data:image/png;base64,")
    back = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert back.mode == "RGBA"
    assert np.array_equal(np.asarray(back), np.asarray(cut))  # preview size: the very pixels, alpha included


def test_cutout_as_png_bytes_and_downscaled_premultiplied():
    photo, cut = _pair((2400, 1600))
    doc = compare.compare_html(png_bytes(photo), png_bytes(cut), max_side=600)
    back = Image.open(io.BytesIO(base64.b64decode(_images(doc)["cutout"].split(",", 1)[1])))
    assert back.size == (600, 400) and back.mode == "RGBA"
    a = np.asarray(back).astype(int)
    soft = (a[..., 3] > 10) & (a[..., 3] < 245)
    assert soft.any()
    assert (a[soft][:, 0] < 40).all(), "red from transparent pixels bled into the edge"
    photo_uri = _images(doc)["photo"]
    assert photo_uri.startswith("data:image/jpeg;base64,")


def test_pillow_global_limit_untouched():
    before = Image.MAX_IMAGE_PIXELS
    photo, cut = _pair((3000, 2000))
    compare.compare_html(png_bytes(photo), png_bytes(cut))
    assert Image.MAX_IMAGE_PIXELS == before


def test_edge_focus_finds_the_soft_column():
    _, cut = _pair((400, 200))
    fx, fy = compare.edge_focus(cut, side=16)
    assert fx == pytest.approx(0.75, abs=0.05) and 0.25 <= fy <= 0.75  # somewhere along the soft column
    assert compare.edge_focus(Image.new("RGBA", (10, 10), (0, 0, 0, 255))) == (0.5, 0.5)


def test_refuses_an_unknown_background():
    photo, cut = _pair()
    with pytest.raises(ValueError, match="background"):
        compare.compare_html(photo, cut, background="tartan")


@pytest.mark.browser
def test_slider_renders_and_moves_in_chromium(browser, artifacts):
    photo, cut = _pair((600, 400))
    doc = compare.compare_html(photo, cut, start=50)
    page = browser.new_page(viewport={"width": 900, "height": compare.frame_height() + 20}, offline=True)
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.set_content(doc)
    root = page.locator(".compare")
    assert root.get_attribute("data-pos") == "50"
    over = page.locator(".over")
    assert "inset(0px 0px 0px 50%)" in over.evaluate("el => getComputedStyle(el).clipPath")
    for cls in ("photo", "cutout"):
        assert page.locator(f"img.{cls}").evaluate("img => img.complete && img.naturalWidth > 0")
    # drag across the picture: the divider follows the pointer
    box = page.locator(".stage").bounding_box()
    assert box and box["width"] > 300
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert float(root.get_attribute("data-pos")) == pytest.approx(20, abs=1.5)
    # the range input moves it too, and the photo shows left of the divider, the cutout right of it
    page.locator(".slider").fill("80")
    assert root.get_attribute("data-pos") == "80"
    page.locator("[data-bg=dark]").click()
    assert root.get_attribute("data-bg") == "dark"
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)
    y = int(box["y"] + box["height"] * 0.1)  # a row of background only
    left_px = shot[y, int(box["x"] + box["width"] * 0.1)]
    right_px = shot[y, int(box["x"] + box["width"] * 0.9)]
    assert left_px[1] > 120 and left_px[0] < 80  # the green photo
    assert right_px.max() < 50  # the dark background through the transparent cutout
    page.locator(".edge").click()
    assert int(root.get_attribute("data-zoom")) >= 4
    page.screenshot(path=artifacts / "browser-compare-zoomed.png")
    assert not failed, f"the view fetched something: {failed}"
    page.close()
