"""At 1280×800, a laptop screen: the named labels, metrics and tables of every page fit.

A label is cut off when its text is wider than the box that clips it (CSS ellipsis or hidden
overflow); a table is cut off when its grid scrolls sideways. Screenshots of each page land in
test-artifacts/ (taller than the viewport, same width) for a person to look at.
"""

from __future__ import annotations

import pytest

from tests.browser_support import assert_no_exception, settle
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model]

LAPTOP = {"width": 1280, "height": 800}

# Every clipping box whose text is wider than the box, and every data grid that scrolls sideways.
# Streamlit's own uploader hint ("200MB per file • JPG, PNG, …") is its design, not ours: skipped.
CUT_OFF = """() => {
  const out = [];
  for (const el of document.querySelectorAll('[data-testid=stMain] *, [data-testid=stSidebar] *')) {
    if (!el.offsetParent || el.closest('[data-testid=stFileUploaderDropzoneInstructions]')) continue;
    const cs = getComputedStyle(el);
    if (cs.textOverflow !== 'ellipsis' && !['hidden', 'clip'].includes(cs.overflowX)) continue;
    const text = el.innerText ? el.innerText.trim() : '';
    if (!text || el.clientWidth < 2) continue;  // screen-reader-only text (1 px boxes) is not a label
    const range = document.createRange();
    range.selectNodeContents(el);
    const textWidth = range.getBoundingClientRect().width;
    const box = el.getBoundingClientRect().width;
    if (el.scrollWidth > el.clientWidth + 1 || textWidth > box + 0.5)
      out.push(`${text.slice(0, 60)} (${textWidth.toFixed(1)} px of text in ${box.toFixed(1)} px)`);
  }
  for (const grid of document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller'))
    if (grid.scrollWidth > grid.clientWidth + 1) out.push(`a table ${grid.scrollWidth} px wide in ${grid.clientWidth} px`);
  return out;
}"""


def check(page, artifacts, name: str) -> None:
    assert_no_exception(page)
    cut = page.evaluate(CUT_OFF)
    page.set_viewport_size({"width": LAPTOP["width"], "height": 3000})  # same width: the whole page on one image
    page.wait_for_timeout(800)
    page.screenshot(path=artifacts / f"layout-1280-{name}.png")
    page.set_viewport_size(LAPTOP)
    page.wait_for_timeout(300)
    assert not cut, f"{name}: cut off at 1280×800: {cut}"


def go(page, server: str, link: str, ready: str) -> None:
    page.get_by_role("link", name=link).click()
    page.wait_for_selector(f"text={ready}", timeout=60_000)
    settle(page)


def test_every_page_fits_a_laptop_screen(server, browser, artifacts):
    page = browser.new_page(viewport=LAPTOP)
    page.goto(server)
    page.wait_for_selector("text=Remove a background", timeout=60_000)
    settle(page)
    assert page.get_by_text("Getting started").count() == 1
    icon = page.locator("link[rel~=icon]").first.get_attribute("href")
    assert icon.startswith(("/", server)), f"the favicon comes from elsewhere: {icon}"  # served by the app itself
    check(page, artifacts, "remove-empty")

    page.locator("[data-testid=stSelectbox]").last.click()
    page.get_by_role("option", name="Apple on a table (drawn)").click()
    page.wait_for_selector("text=After — cutout", timeout=180_000)
    settle(page)
    page.get_by_text("Crop to subject").click()  # recomposed from the kept mask
    page.wait_for_selector("text=Recomposed from the kept mask", timeout=60_000)
    settle(page)
    after = page.locator("[data-testid=stImage] img").nth(1)
    natural, shown = after.evaluate("i => [i.naturalWidth / i.naturalHeight, i.width / i.height]")
    assert abs(natural - shown) < 0.02, "the cropped preview is stretched"
    check(page, artifacts, "remove-cropped")

    go(page, server, "Batch", "Images from")
    page.get_by_test_id("stRadioGroup").get_by_text("Sample set").click()
    settle(page)
    page.get_by_role("button", name="Remove backgrounds of").click()
    page.wait_for_selector("text=Images out", timeout=300_000)
    settle(page)
    check(page, artifacts, "batch")

    go(page, server, "Watermark", "Watermark studio")
    check(page, artifacts, "watermark")

    go(page, server, "Memory Lab", "Run isolated (fresh process)")
    page.get_by_role("button", name="Run isolated (fresh process)").click()
    page.wait_for_selector("text=Run #1: isolated", timeout=180_000)
    settle(page)
    assert page.get_by_role("button", name="Release sessions and trim memory").count() == 2  # sidebar + lab
    saved = ROOT / "docs" / "claims-run.json"  # a saved claims run: its table and verdicts must fit too
    page.get_by_test_id("stMain").locator("input[type=file]").nth(1).set_input_files(str(saved))
    page.wait_for_selector("text=Measured 2026-", timeout=60_000)
    settle(page)
    check(page, artifacts, "memory-lab")

    go(page, server, "Benchmark", "Run the sweep")
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stSelectbox").nth(1).click()
    page.get_by_role("option", name="full sweep", exact=False).click()  # the longest choice in the picker
    settle(page)
    check(page, artifacts, "benchmark-picker")
    main.get_by_test_id("stSelectbox").nth(1).click()
    page.get_by_role("option", name="arena × pattern", exact=False).click()
    settle(page)
    for i in range(3):  # rounds 1, measured images 1, warm-ups 0: four short fresh processes
        main.get_by_role("slider").nth(i).press("Home")
        settle(page)
    page.get_by_role("button", name="Run the sweep").click()
    page.wait_for_selector("text=Latency vs memory kept", timeout=300_000)
    settle(page)
    check(page, artifacts, "benchmark")
    page.close()
