"""A dashboard people can keep open, in real Chromium against a real `streamlit run app.py`: work survives
page switches, every refusal is a visible line, a Stop leaves no child process, the Serving Lab has an owner.
Ends with a tour of every page at 1280×800 (screenshots in test-artifacts/) and the server log's size."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from tests.browser_support import RunningApp, assert_images_loaded, assert_no_exception, settle, streamlit_app
from tests.conftest import photo_named, subject_image

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model]

VIEW = {"width": 1280, "height": 800}
TALL = {"width": 1280, "height": 2600}  # same width; Streamlit's main area scrolls inside the page
UPLOAD = "[data-testid=stFileUploader] input[type=file]"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>\n'


@pytest.fixture(scope="module")
def app(model_path):
    with streamlit_app() as running:
        yield running


def open_app(browser, app: RunningApp, viewport=VIEW, **kw):
    page = browser.new_page(viewport=viewport, **kw)  # a new context: a new browser session
    page.set_default_timeout(120_000)  # a loaded machine: a click may wait for a slow rerun
    page.goto(app.url)
    page.wait_for_selector("text=Remove a background", timeout=180_000)
    settle(page)
    return page


def go(page, link: str, ready: str) -> None:
    page.get_by_role("link", name=link, exact=True).click()
    page.wait_for_selector(f"text={ready}", timeout=180_000)
    settle(page)


def sample_set(page) -> None:
    page.get_by_role("radio", name="Sample set").check(force=True)
    page.wait_for_selector("text=Add a damaged file", timeout=120_000)
    settle(page)


def children(pid: int) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(pid).children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def poll(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_remove_upload_and_result_survive_a_visit_to_another_page(app, browser, photos, artifacts):
    photo = photo_named(photos, "car", "chelsea")
    page = open_app(browser, app)
    page.set_input_files(UPLOAD, str(photo))
    page.wait_for_selector("text=After — cutout", timeout=180_000)
    settle(page)
    page.get_by_text("Crop to subject").click()
    page.wait_for_selector("text=Recomposed from the kept mask", timeout=60_000)
    settle(page)
    go(page, "Batch", "Many images or a zip in")
    go(page, "Remove background", "Remove a background")
    page.wait_for_selector("text=After — cutout", timeout=60_000)
    assert_no_exception(page)
    assert_images_loaded(page, 2)
    main = page.locator("[data-testid=stMain]").inner_text()
    assert f"Before — {photo.name}" in main and "Kept from before" in main
    assert page.get_by_role("switch", name="Crop to subject").is_checked()  # the option came back too
    page.close()


def test_a_finished_batch_and_its_zip_survive_a_visit_to_another_page(app, browser, artifacts):
    page = open_app(browser, app, accept_downloads=True)
    go(page, "Batch", "Many images or a zip in")
    sample_set(page)
    page.get_by_role("button", name="Remove backgrounds of").click()
    page.wait_for_selector("text=Download all results (zip)", timeout=300_000)
    settle(page)
    go(page, "Watermark", "Watermark studio")
    go(page, "Batch", "Many images or a zip in")
    button = page.get_by_role("button", name="Download all results (zip)")
    assert button.count() == 1
    with page.expect_download(timeout=60_000) as download:
        button.click()
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as zf:
        assert zf.namelist() and all(n.endswith(".png") for n in zf.namelist())
    assert "damaged.jpg" in page.locator("[data-testid=stAlertContentError]").first.inner_text()
    page.close()


def test_an_svg_is_refused_with_a_visible_line_on_remove_and_batch(app, browser, tmp_path, artifacts):
    good, svg = tmp_path / "disc.png", tmp_path / "logo.svg"
    subject_image((480, 360)).save(good)
    svg.write_bytes(SVG)
    page = open_app(browser, app)
    page.set_input_files(UPLOAD, str(good))
    page.wait_for_selector("text=After — cutout", timeout=180_000)
    settle(page)
    page.set_input_files(UPLOAD, str(svg))
    error = page.wait_for_selector("[data-testid=stAlertContentError]", timeout=60_000)
    settle(page)
    assert "logo.svg" in error.inner_text() and "SVG" in error.inner_text()
    assert page.locator("text=After — cutout").count() == 0  # the earlier photo's result is gone
    page.screenshot(path=artifacts / "dashboard-remove-svg-refused.png")

    go(page, "Batch", "Many images or a zip in")
    page.locator(UPLOAD).set_input_files([str(svg), str(good)])
    settle(page)
    page.get_by_role("button", name="Remove backgrounds of 2 files").click()
    page.wait_for_selector("text=Images out", timeout=180_000)
    settle(page)
    refused = page.locator("[data-testid=stAlertContentError]").first.inner_text()
    assert "logo.svg" in refused and "SVG" in refused
    page.screenshot(path=artifacts / "dashboard-batch-svg-refused.png")
    page.close()


def test_stop_during_a_sweep_leaves_no_child_process(app, browser, artifacts):
    page = open_app(browser, app)
    go(page, "Benchmark", "Sweeps ONNX Runtime")
    assert children(app.pid) == []
    page.get_by_role("button", name="Run the sweep").click()
    poll(lambda: [c for c in children(app.pid) if "rembg_core.measure.child" in " ".join(c.cmdline())], 120,
         "a sweep child")
    page.get_by_role("button", name="Stop the sweep").click()
    page.wait_for_selector("text=Stopped: the sweep", timeout=60_000)
    settle(page)
    assert poll(lambda: children(app.pid) == [] or None, 30, "the children to go") is True
    assert_no_exception(page)
    page.screenshot(path=artifacts / "dashboard-sweep-stopped.png")
    page.close()


def test_a_second_session_cannot_stop_the_first_sessions_serving_lab(app, browser, artifacts):
    first = open_app(browser, app)
    go(first, "Serving Lab", "No server running")
    first.get_by_label("Workers").fill("1")
    first.get_by_role("button", name="Start server").click()
    first.wait_for_selector("text=master pid", timeout=180_000)
    settle(first)
    try:
        second = open_app(browser, app)
        go(second, "Serving Lab", "belongs to another visitor")
        assert second.get_by_role("button", name="Stop server").count() == 0
        assert second.get_by_role("button", name="Start server").count() == 0  # no form of their own beside it
        assert second.get_by_role("button", name="Run load").is_disabled()
        second.screenshot(path=artifacts / "dashboard-serving-lab-second-visitor.png")
        second.close()
    finally:
        first.get_by_role("button", name="Stop server").click()
        first.wait_for_selector("text=No server running", timeout=60_000)
        first.close()
    assert poll(lambda: children(app.pid) == [] or None, 30, "the server to go") is True


def shot(page, artifacts: Path, name: str) -> None:
    assert_no_exception(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts / f"tour-1280x800-{name}.png")
    page.set_viewport_size(TALL)
    page.wait_for_timeout(2500)  # charts redraw at the new size
    page.screenshot(path=artifacts / f"tour-1280-full-{name}.png")
    page.set_viewport_size(VIEW)
    page.wait_for_timeout(300)


def test_tour_every_page_after_a_full_flow(app, browser, photos, artifacts):
    """Screenshots of every page at 1280×800 once it shows a result, for a person to look at; the
    server's log size after the tour goes to test-artifacts/tour-log.txt."""
    photo = photo_named(photos, "anime", "astronaut")
    page = open_app(browser, app)
    page.set_input_files(UPLOAD, str(photo))
    page.wait_for_selector("text=After — cutout", timeout=180_000)
    settle(page)
    shot(page, artifacts, "remove")

    go(page, "Batch", "Many images or a zip in")
    sample_set(page)
    page.get_by_role("button", name="Remove backgrounds of").click()
    page.wait_for_selector("text=Download all results (zip)", timeout=300_000)
    settle(page)
    shot(page, artifacts, "batch")

    go(page, "Watermark", "Watermark studio")
    shot(page, artifacts, "watermark")

    go(page, "Memory Lab", "Run isolated (fresh process)")
    page.get_by_role("button", name="Run in this process").click()
    page.wait_for_selector("text=Run #1: in-process", timeout=180_000)
    settle(page)
    shot(page, artifacts, "memory-lab")

    go(page, "Benchmark", "Sweeps ONNX Runtime")
    page.get_by_role("button", name="Run the sweep").click()
    page.wait_for_selector("text=Download CSV", timeout=600_000)
    settle(page)
    shot(page, artifacts, "benchmark")

    go(page, "Serving Lab", "No server running")
    page.get_by_label("Workers").fill("1")
    page.get_by_role("button", name="Start server").click()
    page.wait_for_selector("text=master pid", timeout=180_000)
    settle(page)
    page.locator(UPLOAD).set_input_files(str(photo))
    settle(page)
    page.get_by_label("Concurrent clients").fill("2")
    page.get_by_label("Requests", exact=True).fill("6")
    page.get_by_role("button", name="Run load").click()
    page.wait_for_selector("text=Run #1:", timeout=240_000)
    settle(page)
    shot(page, artifacts, "serving-lab")
    page.get_by_role("button", name="Stop server").click()
    page.wait_for_selector("text=No server running", timeout=60_000)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the sidebar starts closed
    page.goto(app.url)
    page.wait_for_selector("text=Remove a background", timeout=90_000)
    settle(page)
    page.screenshot(path=artifacts / "tour-390x844-remove.png")
    sidebar = page.locator("[data-testid=stSidebar]")
    assert sidebar.count() == 0 or sidebar.get_attribute("aria-expanded") != "true"
    page.close()

    lines = app.log_text().splitlines()
    (artifacts / "tour-log.txt").write_text(f"{len(lines)} lines\n" + "\n".join(lines[-200:]) + "\n")
    assert not [line for line in lines if "Inotify" in line]


def test_a_fresh_servers_first_visit_straight_to_a_page_shows_no_wrong_navigation(browser, model_path, artifacts):
    """Until the first st.navigation call, Streamlit takes `pages/` for its old multipage layout. The first
    visit, straight at /watermark, must never list the folder's files (app, common, …) and must end on
    the Watermark page inside app.py's frame."""
    with streamlit_app() as fresh:
        page = browser.new_page(viewport=VIEW)
        page.goto(fresh.url + "watermark")
        seen: set[str] = set()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            seen |= {t.strip().lower() for t in page.locator("[data-testid=stSidebar] a").all_inner_texts()}
            if page.locator("text=Watermark studio").count() and page.locator("text=Model and session").count():
                break
            page.wait_for_timeout(150)
        else:
            pytest.fail("the first visit never reached the framed Watermark page")
        settle(page)
        assert not {"app", "common"} & {s.split("\n")[-1] for s in seen}, seen
        assert page.get_by_role("link", name="Serving Lab").count() == 1  # app.py's own links
        assert_no_exception(page)
        page.screenshot(path=artifacts / "dashboard-first-visit-watermark.png")
        page.close()
