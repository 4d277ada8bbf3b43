"""Serving Lab in Chromium: start a real server from the page, run a short real load, then quit
Streamlit with the server still running: the server must go with it (no orphan processes)."""

from __future__ import annotations

import re
import time

import psutil
import pytest

from tests.browser_support import VIEWPORT, assert_no_exception, settle, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model]


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_serving_lab_load_and_no_orphans_after_streamlit_exits(browser, artifacts, model_path):
    pids: list[int] = []
    try:
        with streamlit_server() as url:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            page.wait_for_selector("text=Remove a background", timeout=60_000)
            settle(page)
            page.get_by_role("link", name="Serving Lab").click()
            page.wait_for_selector("text=No server running", timeout=60_000)
            settle(page)
            page.get_by_label("Workers").fill("1")
            page.get_by_role("button", name="Start server").click()
            running = page.wait_for_selector("text=master pid", timeout=120_000)
            settle(page)
            text = running.inner_text()
            pids = [int(re.search(r"master pid (\d+)", text).group(1))]
            pids += [int(p) for p in re.search(r"workers ([\d, ]+)", text).group(1).replace(",", " ").split()]
            assert len(alive(pids)) == 2
            page.get_by_label("Concurrent clients").fill("2")
            page.get_by_label("Requests", exact=True).fill("6")
            page.get_by_role("button", name="Run load").click()
            page.wait_for_selector("text=Run #1: 2 clients, 6 requests", timeout=180_000)
            settle(page)
            assert_no_exception(page)
            assert page.locator("[data-testid=stMetric]", has_text="Throughput").count() == 1
            assert page.locator(".js-plotly-plot").count() >= 2
            page.screenshot(path=artifacts / "browser-serving-lab.png", full_page=True)
            page.close()
        # Streamlit has exited with the server still running: the server follows it
        deadline = time.monotonic() + 30
        while alive(pids) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert alive(pids) == []
    finally:
        for pid in alive(pids):
            psutil.Process(pid).kill()
