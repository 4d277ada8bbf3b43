"""Shared fixtures: rembg's peer suite (by path, never copied), the real model, synthetic images."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PEER_SUITE = Path(os.environ.get("REMBG_LAB_PEER_SUITE", ROOT.parent / "shared" / "peer-suite"))
FIXTURES = sorted((PEER_SUITE / "fixtures").glob("*.jpg"))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real u2netp file, fetched by `make test` before pytest runs (fetched here if missing)."""
    from rembg_core import models

    return models.fetch("u2netp")


@pytest.fixture(scope="session")
def peer_fixtures() -> list[Path]:
    if not FIXTURES:
        pytest.fail(f"rembg's peer suite not found at {PEER_SUITE} (set REMBG_LAB_PEER_SUITE)")
    return FIXTURES


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
