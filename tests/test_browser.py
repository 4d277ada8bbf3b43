"""End to end: a real `streamlit run app.py` driven by Debian's Chromium through Playwright.

Screenshots land in test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.browser_support import VIEWPORT, assert_images_loaded, assert_no_exception, settle, streamlit_server
from tests.conftest import photo_named, subject_image

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_remove_page_upload_cutout_chart_download(server, browser, artifacts, photos):
    photo = photo_named(photos, "anime", "astronaut")
    page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    page.goto(server)
    page.wait_for_selector("text=Remove a background", timeout=60_000)
    settle(page)
    page.screenshot(path=artifacts / "browser-remove-empty.png")
    assert "Server RSS now" in page.locator("[data-testid=stSidebar]").inner_text()

    page.set_input_files("[data-testid=stFileUploader] input[type=file]", str(photo))
    page.wait_for_selector("text=After — cutout", timeout=120_000)
    page.wait_for_selector("text=Resident memory during the run", timeout=60_000)
    settle(page)
    assert_no_exception(page)
    assert_images_loaded(page, 2)
    assert page.locator("[data-testid=stMetric]", has_text="RSS peak").count() == 1
    page.screenshot(path=artifacts / "browser-remove-cutout.png")

    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download cutout PNG").click()
    assert download.value.suggested_filename == f"{photo.stem}-cutout.png"
    cutout = Image.open(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert cutout.mode == "RGBA" and cutout.size == Image.open(photo).size
    alpha = cutout.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # both background removed and subject kept
    page.close()


def test_bad_upload_shows_an_error_and_the_app_keeps_serving(server, browser, artifacts, tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_text("<html><body>not a photo</body></html>")
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(server)
    page.wait_for_selector("[data-testid=stFileUploader]", timeout=60_000)
    settle(page)
    page.set_input_files("[data-testid=stFileUploader] input[type=file]", str(bad))
    error = page.wait_for_selector("[data-testid=stAlertContentError]", timeout=60_000)
    assert "holiday.jpg" in error.inner_text() and "HTML" in error.inner_text()
    assert_no_exception(page)
    page.screenshot(path=artifacts / "browser-remove-bad-upload.png")
    good = tmp_path / "disc.png"
    subject_image((640, 480)).save(good)
    page.set_input_files("[data-testid=stFileUploader] input[type=file]", str(good))
    page.wait_for_selector("text=After — cutout", timeout=120_000)
    settle(page)
    assert page.locator("[data-testid=stAlertContentError]").count() == 0
    page.close()


def test_memory_lab_arena_on_vs_off_and_benchmark_page(server, browser, artifacts):
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(server)
    page.wait_for_selector("text=Remove a background", timeout=60_000)
    settle(page)
    page.get_by_role("link", name="Memory Lab").click()
    page.wait_for_selector("text=Run isolated (fresh process)", timeout=60_000)
    settle(page)
    assert "Model and session" in page.locator("[data-testid=stSidebar]").inner_text()  # the frame stays

    page.get_by_role("button", name="Run isolated (fresh process)").click()
    page.wait_for_selector("text=Run #1: isolated", timeout=180_000)
    settle(page)
    page.get_by_role("switch", name="CPU memory arena").click(force=True)  # the sidebar: the flags' one home
    settle(page)
    page.get_by_role("button", name="Run isolated (fresh process)").click()
    page.wait_for_selector("text=Run #2: isolated", timeout=180_000)
    settle(page)
    assert_no_exception(page)
    page.wait_for_selector("text=RSS of each run, aligned at its start", timeout=30_000)
    assert page.get_by_text("RSS of a fresh child process, run #2").count() == 1  # the last run's timeline
    assert page.get_by_text("Measured here (isolated runs #1 vs #2").count() == 1  # same image, size, repeats
    page.screenshot(path=artifacts / "browser-memory-lab.png")

    page.get_by_role("link", name="Benchmark").click()
    page.wait_for_selector("text=Run the sweep", timeout=60_000)
    settle(page)
    assert_no_exception(page)
    page.screenshot(path=artifacts / "browser-benchmark.png")
    page.close()


def test_first_visit_straight_to_a_page_url_gets_the_app_frame(browser):
    """Streamlit runs a `pages/` folder in its legacy mode until st.navigation is first called:
    on a fresh server, /watermark must still come through app.py (sidebar, page titles)."""
    with streamlit_server() as url:  # fresh: no session has called st.navigation yet
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url + "watermark")
        page.wait_for_selector("text=Watermark studio", timeout=60_000)
        settle(page)
        sidebar = page.locator("[data-testid=stSidebar]").inner_text()
        assert "Model and session" in sidebar and "Remove background" in sidebar
        assert "common" not in sidebar.split()
        assert_no_exception(page)
        page.close()
