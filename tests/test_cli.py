"""The CLI as a user runs it: a real subprocess, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, png_bytes, subject_image

pytestmark = pytest.mark.model


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rembg_core", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture
def inputs(tmp_path, model_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes(subject_image()))
    (folder / "b.jpg").write_bytes(png_bytes(subject_image((300, 200)), "JPEG"))
    (folder / "broken.png").write_bytes(b"this is not a picture")
    return folder


def test_single_file_to_png(inputs, tmp_path):
    out = tmp_path / "cut.png"
    proc = cli("remove", inputs / "a.png", "-o", out)
    assert proc.returncode == 0, proc.stderr
    im = Image.open(out)
    assert im.mode == "RGBA" and im.size == (400, 300)


def test_webp_with_options(inputs, tmp_path):
    out = tmp_path / "cut.webp"
    proc = cli("remove", inputs / "a.png", "-o", out, "--no-arena", "--no-mem-pattern", "--arena-shrinkage",
               "--threads", "1", "--max-size", "200", "--crop", "--bgcolor", "255,255,255,255")
    assert proc.returncode == 0, proc.stderr
    im = Image.open(out)
    assert im.format == "WEBP" and max(im.size) < 200
    mask = cli("remove", inputs / "a.png", "-o", tmp_path / "mask.png", "--only-mask", "--post-process-mask")
    assert mask.returncode == 0
    assert set(np.unique(np.asarray(Image.open(tmp_path / "mask.png"))).tolist()) <= {0, 255}


def test_bad_file_among_good_ones_one_line_and_exit_3(inputs, tmp_path):
    out = tmp_path / "out"
    proc = cli("remove", inputs / "a.png", inputs / "broken.png", inputs / "b.jpg", tmp_path / "missing.jpg", "-o", out)
    assert proc.returncode == 3
    errors = proc.stderr.strip().splitlines()
    assert errors == [
        f"error: {inputs / 'broken.png'}: not an image: this is a text file",
        f"error: {tmp_path / 'missing.jpg'}: no such file",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert "Traceback" not in proc.stderr


def test_folder_input(inputs, tmp_path):
    proc = cli("remove", inputs, "-o", tmp_path / "out")
    assert proc.returncode == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert proc.stderr.count("\n") == 1 and "broken.png" in proc.stderr


@pytest.mark.parametrize("args", [
    ["remove"],
    ["remove", "x.png"],
    ["remove", "x.png", "-o", "y.png", "--max-size", "0"],
    ["remove", "x.png", "-o", "y.png", "--bgcolor", "red"],
    ["remove", "x.png", "-o", "y.png", "--model", "nope"],
    ["models", "explode"],
])
def test_usage_errors_exit_2(args):
    proc = cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "usage:" in proc.stderr


def test_unsupported_output_format(inputs, tmp_path):
    proc = cli("remove", inputs / "a.png", "-o", tmp_path / "x.gif")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")


def test_models_list_and_verify():
    listing = cli("models", "list")
    assert listing.returncode == 0 and "u2netp" in listing.stdout and "isnet-general-use" in listing.stdout
    verify = cli("models", "verify", "u2netp")
    assert verify.returncode == 0 and "sha256:309c8469" in verify.stdout


def test_verify_reports_a_damaged_store(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "u2netp.onnx").write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "rembg_core", "models", "verify", "u2netp"], capture_output=True,
                          text=True, cwd=ROOT, env={"REMBG_LAB_MODELS": str(store), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: u2netp: model file") and "damaged" in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("shape", ["single", "folder"])
def test_unwritable_output_exits_1_from_remove(inputs, tmp_path, shape):
    """One exit-code table: an output that cannot be written is 1 whatever the shape of the input."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    src = inputs / "a.png" if shape == "single" else inputs
    out = blocker / ("cut.png" if shape == "single" else "out")
    proc = cli("remove", src, "-o", out, "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert f"error: {out}" in proc.stderr and "cannot write" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_the_commands_and_nothing_hidden():
    proc = cli("--help")
    assert proc.returncode == 0
    assert "==SUPPRESS==" not in proc.stdout
    for command in ("remove", "models", "watermark", "bench"):
        assert command in proc.stdout
