"""The Edges page in real Chromium against `streamlit run app.py`: Stop ends the run and its child
process; a finished run shows its table, crops and the before/after view (1280×800)."""

from __future__ import annotations

import time

import psutil
import pytest

from tests.browser_support import assert_no_exception, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHILD = "rembg_core.edgequality.child"
WAIT = 900_000  # ms: the machine may be loaded


def _children() -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if CHILD in " ".join(p.info["cmdline"] or ()):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def _narrow(page) -> None:
    """strands over green, mode `none` only, one round (Backspace drops a multiselect's last chip)."""
    boxes = page.locator('[data-testid="stMultiSelect"] input')
    boxes.nth(0).click()
    for _ in range(2):
        page.keyboard.press("Backspace")
    page.keyboard.press("Escape")
    boxes.nth(2).click()
    for _ in range(8):
        page.keyboard.press("Backspace")
    page.keyboard.type("none")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_test_id("stNumberInputField").fill("1")
    page.keyboard.press("Tab")
    page.wait_for_selector("button:has-text('Score 1 mode(s) on 1 composite(s), 1 round(s)')", timeout=WAIT)


def test_stop_kills_the_child_then_a_run_shows_scores_crops_and_slider(server, browser, artifacts):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server + "edges")
    page.wait_for_selector("text=RGBA cutouts", timeout=WAIT)
    settle(page, WAIT)
    assert_no_exception(page)
    _narrow(page)
    before = {p.pid for p in _children()}  # other runs on this machine are not ours to judge

    page.locator("button:has-text('Score 1 mode')").click()
    page.wait_for_selector("button:has-text('Stop the edge run')", timeout=WAIT)
    deadline = time.monotonic() + 300
    mine: list[psutil.Process] = []
    while not mine and time.monotonic() < deadline:
        mine = [p for p in _children() if p.pid not in before]
        time.sleep(0.2)
    assert mine, "the run never started its child process"
    page.locator("button:has-text('Stop the edge run')").click()
    page.wait_for_selector("text=Stopped:", timeout=WAIT)
    gone, alive = psutil.wait_procs(mine, timeout=30)
    assert not alive, f"children still running after Stop: {[p.pid for p in alive]}"
    assert page.locator("text=Scores (mean over composites)").count() == 0

    page.locator("button:has-text('Score 1 mode')").click()
    page.wait_for_selector("text=Scores (mean over composites)", timeout=WAIT)
    settle(page, WAIT)
    assert_no_exception(page)
    page.wait_for_selector("text=interleaved round", timeout=WAIT)  # the provenance line
    page.wait_for_selector("[data-testid=stImage] img", timeout=WAIT)
    crops = page.locator("[data-testid=stImage] img")
    assert crops.count() == 1
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=stImage] img');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=WAIT)
    frame = page.frame_locator("iframe").last
    frame.locator(".compare").wait_for(timeout=WAIT)
    frame.locator(".slider").fill("30")
    assert frame.locator(".compare").get_attribute("data-pos") == "30"
    page.screenshot(path=artifacts / "browser-edges.png", full_page=True)
    page.close()
