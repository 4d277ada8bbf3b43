"""End to end: a real `streamlit run app.py` driven by Debian's Chromium through Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (`make chromium` installs it).
Screenshots land in test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, subject_image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("REMBG_LAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 2200}  # tall: Streamlit's main area scrolls inside the page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not come up:\n{log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def settle(page, timeout: float = 180_000) -> None:
    """Wait until Streamlit has finished running the script (its 'running' widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout)
    page.wait_for_timeout(500)


def assert_no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, page.locator("[data-testid=stException]").first.inner_text()


def test_remove_page_upload_cutout_chart_download(server, browser, artifacts, peer_fixtures):
    photo = next(p for p in peer_fixtures if p.name.startswith("anime"))
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
    images = page.locator("[data-testid=stImage] img")
    assert images.count() == 2
    assert all(images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(2))
    assert page.locator("[data-testid=stMetric]", has_text="RSS peak").count() == 1
    page.screenshot(path=artifacts / "browser-remove-cutout.png")

    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download PNG").click()
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
    page.get_by_role("switch", name="enable_cpu_mem_arena").click(force=True)
    settle(page)
    page.get_by_role("button", name="Run isolated (fresh process)").click()
    page.wait_for_selector("text=Run #2: isolated", timeout=180_000)
    settle(page)
    assert_no_exception(page)
    page.wait_for_selector("text=RSS of each run, aligned at its start", timeout=30_000)
    assert page.locator("[data-testid=stPlotlyChart]").count() == 2
    page.screenshot(path=artifacts / "browser-memory-lab.png")

    page.get_by_role("link", name="Benchmark").click()
    page.wait_for_selector("text=Run the sweep", timeout=60_000)
    settle(page)
    assert_no_exception(page)
    page.screenshot(path=artifacts / "browser-benchmark.png")
    page.close()
