"""The Batch page in a real Chromium against a real Streamlit server: mixed uploads in, a zip out."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile

import pytest

from conftest import ROOT, png_bytes, subject_image

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make test installs it)")
def test_upload_mixed_files_and_a_zip_download_the_results(server, tmp_path):
    from playwright.sync_api import sync_playwright

    good = [tmp_path / f"photo{i}.jpg" for i in range(3)]
    for i, path in enumerate(good):
        path.write_bytes(png_bytes(subject_image((90 + 10 * i, 70)), "JPEG", quality=90))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/a.png", png_bytes(subject_image((60, 80))))
        zf.writestr("../escape.png", b"x")
        zf.writestr("__MACOSX/._a.png", b"x")
    uploads = [str(p) for p in (*good, broken, archive)]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server, timeout=60_000)
        page.wait_for_selector("text=Remove a background", timeout=120_000)  # the app's first run is done
        page.get_by_role("link", name="Batch").click()
        page.wait_for_selector("text=Images or zip archives", timeout=120_000)
        page.set_input_files("input[type=file]", uploads)
        page.get_by_text(f"Remove backgrounds of {len(uploads)} files").click()
        page.wait_for_selector("text=Download all results (zip)", timeout=240_000)
        alert = page.locator("[data-testid='stAlertContentError'] [data-testid='stMarkdownContainer']").inner_text()
        with page.expect_download() as download:
            page.get_by_text("Download all results (zip)").click()
        data = download.value.path().read_bytes()
        browser.close()

    lines = [line for line in alert.splitlines() if line.strip()]
    assert len(lines) == 2  # one line per refused input, each naming it
    assert any(line.startswith("broken.png: not an image") for line in lines)
    assert any(line.startswith("pack.zip:../escape.png: path traversal") for line in lines)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["inner/a.png", "photo0.png", "photo1.png", "photo2.png"]
        assert zf.testzip() is None
