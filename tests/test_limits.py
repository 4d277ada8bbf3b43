"""Limits: one place, env overrides, refusals from the header, and the Streamlit upload limit agreeing."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from rembg_core import imageio, load_image
from rembg_core.errors import TooManyPixelsError
from rembg_core.limits import LIMITS, Limits
from tests.conftest import png_bytes

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_documented_ones():
    d = Limits()
    assert d.max_pixels == 100_000_000 and d.max_upload_mb == 100 and d.max_concurrent_runs == 2
    assert imageio.DEFAULT_MAX_PIXELS == LIMITS.max_pixels


def test_env_overrides_each_field():
    env = {Limits.env_name(f): "7" for f, _, _ in Limits().describe()}
    limits = Limits.from_env(env)
    assert all(value == 7 for _, _, value in limits.describe())
    assert Limits.from_env({"REMBG_LAB_MAX_PIXELS": "50_000_000"}).max_pixels == 50_000_000
    assert Limits.from_env({"REMBG_LAB_MAX_PIXELS": ""}) == Limits()


@pytest.mark.parametrize("raw", ["lots", "-1", "0", "1.5"])
def test_bad_env_values_are_refused_naming_the_variable(raw):
    with pytest.raises(ValueError, match="REMBG_LAB_MAX_CONCURRENT_RUNS"):
        Limits.from_env({"REMBG_LAB_MAX_CONCURRENT_RUNS": raw})


def test_limits_are_frozen_and_validated():
    with pytest.raises(AttributeError):
        LIMITS.max_pixels = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="max_pixels"):
        Limits(max_pixels=0)


def test_env_reaches_the_loader_in_a_fresh_process():
    """REMBG_LAB_MAX_PIXELS is read at import: a 200×200 image is refused under a 10 000 px limit."""
    code = ("import sys; from PIL import Image; import io; from rembg_core import load_image\n"
            "b = io.BytesIO(); Image.new('RGB', (200, 200)).save(b, 'PNG')\n"
            "try:\n    load_image(b.getvalue())\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"REMBG_LAB_MAX_PIXELS": "10000", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.stdout.strip() == "TooManyPixelsError 200×200 is 0.04 MP, over the 0.01 MP limit", \
        proc.stdout + proc.stderr


def test_pixel_limit_applies_per_call():
    data = png_bytes(Image.new("RGB", (300, 300)))
    assert load_image(data).size == (300, 300)
    with pytest.raises(TooManyPixelsError):
        load_image(data, max_pixels=300 * 300 - 1)


def test_streamlit_upload_limit_agrees_with_limits():
    config = ROOT / ".streamlit" / "config.toml"
    if not config.exists():
        pytest.skip(".streamlit/config.toml is written by the dashboard branch (issue-4)")
    server = tomllib.loads(config.read_text()).get("server", {})
    assert server.get("maxUploadSize") == LIMITS.max_upload_mb


def test_batch_limits_take_their_defaults_from_limits():
    from rembg_core.batch import BatchLimits

    b = BatchLimits()
    assert (b.max_items, b.max_zip_entries, b.max_zip_bytes, b.max_item_bytes, b.max_pixels) == (
        LIMITS.max_batch_items, LIMITS.max_zip_entries, LIMITS.max_zip_bytes, LIMITS.max_item_bytes,
        LIMITS.max_pixels)
