"""Shared fixtures: rembg's peer suite (by path, never copied), the real model, synthetic images."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from rembg_core import samples

ROOT = Path(__file__).resolve().parents[1]
PEER_SUITE = samples.peer_suite()
ARTIFACTS = ROOT / "test-artifacts"
NO_PEER_SUITE = "rembg's peer suite is not beside this clone (set REMBG_LAB_PEER_SUITE to use it)"


# A test that asks for one of these fixtures needs the real model (and is slow-ish): mark it so
# `make test-fast` (-m "not model and not browser and not slow") really leaves it out.
MODEL_FIXTURES = {"model_path", "photos", "server", "rembg_session"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real u2netp file, fetched by `make test` before pytest runs (fetched here if missing)."""
    from rembg_core import models

    return models.fetch("u2netp")


@pytest.fixture(scope="session")
def peer_suite() -> Path:
    """rembg's fixtures and golden image; tests that need them skip where the folder is absent."""
    if PEER_SUITE is None:
        pytest.skip(NO_PEER_SUITE)
    return PEER_SUITE


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    """Real photos: rembg's peer-suite fixtures where they exist, and scikit-image's bundled ones
    (installed with the dev requirements), so a clone alone has real photos to test on."""
    found = (sorted((PEER_SUITE / "fixtures").glob("*.jpg")) if PEER_SUITE else []) + samples.package_photos()
    if not found:
        pytest.fail("no real photos: install the dev requirements (scikit-image comes with rembg)")
    return found


def photo_named(photos: list[Path], *stems: str) -> Path:
    """The first photo whose name starts with one of `stems` (in that order), else the first photo."""
    for stem in stems:
        for p in photos:
            if p.name.startswith(stem):
                return p
    return photos[0]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def png_bytes(im: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def subject_image(size: tuple[int, int] = (400, 300), mode: str = "RGB") -> Image.Image:
    """A synthetic 'photo': a red disc on a light grey background."""
    from PIL import ImageDraw

    im = Image.new("RGB", size, (235, 235, 235))
    w, h = size
    ImageDraw.Draw(im).ellipse((w * 0.25, h * 0.2, w * 0.75, h * 0.8), fill=(200, 30, 30))
    return im.convert(mode) if mode != "RGB" else im


@pytest.fixture(scope="module")
def server(model_path):
    """One real Streamlit server per test module (browser tests)."""
    from tests.browser_support import streamlit_server

    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from tests.browser_support import chromium

    with chromium() as b:
        yield b


@contextmanager
def traced_peak() -> Iterator[Callable[[], int]]:
    """The peak of traced Python allocations since entering, whether or not tracemalloc was already on
    (the dashboard traces from start-up once a page test has imported it); leaves it as it found it."""
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1] - base
    finally:
        if not already:
            tracemalloc.stop()
