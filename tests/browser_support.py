"""A real `streamlit run app.py` on 127.0.0.1 and Debian's Chromium, for the browser tests.

Playwright never downloads a browser here: it launches /usr/bin/chromium (`make chromium` installs it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = Path(os.environ.get("REMBG_LAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Streamlit 1.67's websocket endpoint, when a browser tab is still connected as the server stops, calls
# close() on a socket already closed and logs this traceback: the server's own race, not the app's error.
CLOSE_RACE = 'WebSocketDisconnected: Cannot call "send" once a close message has been sent.'
VIEWPORT = {"width": 1400, "height": 2200}  # tall: Streamlit's main area scrolls inside the page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    """A started `streamlit run app.py`: its URL, its process and what it has logged so far."""

    def __init__(self, url: str, proc: subprocess.Popen, log) -> None:
        self.url, self.proc, self._log = url, proc, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


@contextlib.contextmanager
def streamlit_app() -> Iterator[RunningApp]:
    """Start the app on a free loopback port; stop it afterwards (and fail on a logged traceback)."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        app = RunningApp(f"http://127.0.0.1:{port}/", proc, log)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(app.url + "_stcore/health", timeout=2) as resp:
                        if resp.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not come up:\n{app.log_text()[-2000:]}")
                time.sleep(0.3)
            yield app
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        output = app.log_text()
        errors = [t for t in output.split("Traceback")[1:] if CLOSE_RACE not in t]
        assert not errors, f"the server logged an error:\n{output[-3000:]}"


@contextlib.contextmanager
def streamlit_server() -> Iterator[str]:
    """Start the app on a free loopback port; yield its base URL (ending in /); stop it afterwards."""
    with streamlit_app() as app:
        yield app.url


@contextlib.contextmanager
def chromium():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def settle(page, timeout: float = 180_000) -> None:
    """Wait until Streamlit has finished running the script (its 'running' widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout)
    page.wait_for_timeout(500)


def assert_no_exception(page) -> None:
    exc = page.locator("[data-testid=stException]")
    assert exc.count() == 0, exc.first.inner_text()


def assert_images_loaded(page, count: int) -> None:
    """Exactly `count` st.image elements, each decoded by the browser (not a broken image)."""
    images = page.locator("[data-testid=stImage] img")
    assert images.count() == count
    assert all(images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(count))
