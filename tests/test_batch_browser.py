"""The Batch page in a real Chromium against a real Streamlit server: mixed uploads in, a zip out."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.conftest import png_bytes, subject_image

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]


def test_upload_mixed_files_and_a_zip_download_the_results(server, browser, tmp_path):
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

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(server, timeout=60_000)
    page.wait_for_selector("text=Remove a background", timeout=120_000)  # the app's first run is done
    page.get_by_role("link", name="Batch").click()
    page.wait_for_selector("text=Images or zip archives", timeout=120_000)
    page.set_input_files("input[type=file]", uploads)
    # the zip's members are counted: 3 photos + broken.png + inner/a.png; the traversal entry is refused
    page.get_by_text("Remove backgrounds of 5 images (1 other file will be refused)").click()
    page.wait_for_selector("text=Download all results (zip)", timeout=240_000)
    alert = page.locator("[data-testid='stAlertContentError'] [data-testid='stMarkdownContainer']").inner_text()
    with page.expect_download() as download:
        page.get_by_text("Download all results (zip)").click()
    data = download.value.path().read_bytes()
    page.close()

    lines = [line for line in alert.splitlines() if line.strip()]
    assert len(lines) == 2  # one line per refused input, each naming it
    assert any(line.startswith("broken.png: not an image") for line in lines)
    assert any(line.startswith("pack.zip:../escape.png: path traversal") for line in lines)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["inner/a.png", "photo0.png", "photo1.png", "photo2.png"]
        assert zf.testzip() is None
