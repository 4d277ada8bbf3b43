"""Memory Lab in a real Chromium against a real `streamlit run`: a run in the server's process, then the
server's memory split into layers; the layers plus the unattributed remainder add up to the measured RSS."""

from __future__ import annotations

import re

import pytest

from tests.browser_support import VIEWPORT, assert_no_exception, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model]


def layer_table(page, key: str) -> tuple[float, dict[str, float | None]]:
    """(RSS MB from the heading, {layer: MB or None}) from the split drawn in container `key`."""
    box = page.locator(f".st-key-{key}")
    rows = box.locator("table tbody tr")
    out: dict[str, float | None] = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td, th").all_inner_texts()]
        name, mb = cells[0], cells[1]
        out[name] = None if mb == "–" else float(mb)
    heading = page.get_by_text(re.compile(r"Where the memory is: .*RSS [0-9.]+ MB")).first.inner_text()
    rss = float(re.search(r"RSS ([0-9.]+) MB", heading).group(1))
    return rss, out


def test_memory_lab_splits_the_server_into_layers_that_add_up(server, browser, artifacts):
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(server + "memory_lab")
    page.wait_for_selector("h1:has-text('Memory Lab')", timeout=120_000)
    settle(page)
    page.get_by_role("button", name="Run in this process").click(timeout=120_000)
    page.wait_for_selector("text=Run #1: in-process", timeout=180_000)
    settle(page)
    assert "Sessions held" in page.locator("[data-testid=stSidebar]").inner_text()
    page.get_by_role("button", name="Split the server's memory").click(timeout=120_000)
    page.wait_for_selector("text=Where the memory is: the dashboard server", timeout=120_000)
    settle(page)
    assert_no_exception(page)
    page.locator(".st-key-lab_layers_server").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "browser-memory-lab-layers.png", full_page=True, timeout=120_000)
    rss, layers = layer_table(page, "lab_layers_server")
    assert list(layers)[0] == "code and mapped files" and list(layers)[-1] == "unattributed"
    for name in ("model weights", "Python heap", "allocator free-but-held", "Streamlit media storage"):
        assert layers.get(name) is not None, (name, layers)
    assert layers["model weights"] > 0 and layers["code and mapped files"] > 10  # one session held; the runtime
    total = sum(v for v in layers.values() if v is not None)
    assert abs(total - rss) <= 0.05 * len(layers) + 0.05, (total, rss, layers)  # each row rounded to 0.1 MB
    sidebar = page.locator("[data-testid=stSidebar]").inner_text()
    assert re.search(r"u2netp, arena on, pattern on: weights [0-9.]+ MB, .*1 visitor", sidebar), sidebar
    page.close()
