"""The int8 model in a real browser: picked in the sidebar, used on a photo, and its quality shown."""

from __future__ import annotations

import pytest

from rembg_core import models
from tests.browser_support import VIEWPORT, assert_images_loaded, assert_no_exception, settle
from tests.conftest import png_bytes, subject_image

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model]


def test_pick_int8_in_the_sidebar_remove_and_measure_quality(server, browser, artifacts, tmp_path):
    models.fetch("u2netp-int8")  # `make test` builds it; a no-op then
    photo = tmp_path / "disc.png"
    photo.write_bytes(png_bytes(subject_image((480, 360))))
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(server)
    page.wait_for_selector("text=Remove a background", timeout=60_000)
    settle(page)
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.locator("[data-testid=stSelectbox]").first.click()
    page.get_by_role("option", name="u2netp-int8").click()
    settle(page)
    assert "quantized to int8" in sidebar.inner_text()

    page.set_input_files("[data-testid=stFileUploader] input[type=file]", str(photo))
    page.wait_for_selector("text=After — cutout", timeout=120_000)
    settle(page)
    assert_no_exception(page)
    assert_images_loaded(page, 2)
    assert "u2netp-int8" in page.locator("[data-testid=stMain]").inner_text()
    page.screenshot(path=artifacts / "browser-int8-remove.png")

    page.get_by_role("link", name="Benchmark").click()
    page.wait_for_selector("text=Quality: int8 against fp32", timeout=60_000)
    settle(page)
    page.get_by_role("button", name="Measure quality").click()
    page.wait_for_selector("text=Worst case", timeout=240_000)
    settle(page)
    assert_no_exception(page)
    main = page.locator("[data-testid=stMain]").inner_text()
    assert "Mean IoU" in main and "fp32 mask" in main and "int8 mask" in main
    page.get_by_text("Worst case").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "browser-int8-quality.png", full_page=True)
    page.close()
