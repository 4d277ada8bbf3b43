"""The hostile-input corpus (tests/hostile.py) through the library and the real CLI.

Every case is either refused with its exact error type and a one-line reason a person
understands, or accepted with the expected output size — never a traceback.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rembg_core import errors, load_image, remove
from rembg_core.memory import MB, rss
from tests.conftest import traced_peak
from tests.hostile import CASES, Accept, Case, Refuse, by_name, photo, save

ROOT = Path(__file__).resolve().parents[1]
REFUSED = [c for c in CASES if isinstance(c.expect, Refuse)]
ACCEPTED = [c for c in CASES if isinstance(c.expect, Accept)]


def ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


def test_corpus_is_broad():
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)
    assert len(REFUSED) >= 15 and len(ACCEPTED) >= 15


def assert_human(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message
    assert len(message) < 200, message


@pytest.mark.parametrize("case", REFUSED, ids=ids(REFUSED))
def test_library_refuses_with_typed_error(case: Case):
    expect = case.expect
    with pytest.raises(errors.ImageLoadError) as info:
        load_image(case.build())
    assert type(info.value) is getattr(errors, expect.error), f"{type(info.value).__name__}: {info.value}"
    assert expect.words.lower() in str(info.value).lower()
    assert_human(str(info.value))


@pytest.mark.parametrize("case", ACCEPTED, ids=ids(ACCEPTED))
def test_library_accepts_and_normalises(case: Case):
    expect = case.expect
    loaded = load_image(case.build())
    assert loaded.rgb.mode == "RGB" and loaded.size == expect.size
    assert (loaded.alpha is not None) == expect.alpha
    if expect.note:
        assert any(expect.note in n for n in loaded.notes), loaded.notes


def test_header_bomb_is_refused_without_allocating(model_path):
    """~70 bytes declaring 60000×60000 (3.6 GB of pixels): refused before any pixel buffer exists."""
    data = by_name("tiny PNG declaring 60000×60000").build()
    gif = by_name("GIF declaring 65535×65535").build()
    assert len(data) < 100
    gc.collect()
    before = rss()
    with traced_peak() as peak_now:
        for _ in range(20):
            for blob in (data, gif):
                with pytest.raises(errors.TooManyPixelsError):
                    remove(blob)
        peak = peak_now()
    assert peak < 1 * MB, peak
    assert rss() - before < 20 * MB


def test_valid_12000_png_is_refused_from_the_header():
    data = by_name("valid 12000×12000 PNG").build()
    assert len(data) < 400_000
    with traced_peak() as peak_now:
        with pytest.raises(errors.TooManyPixelsError, match="12000×12000 is 144 MP"):
            load_image(data)
        peak = peak_now()
    assert peak < 2 * MB  # the decoded frame would be 144 MB


@pytest.mark.model
@pytest.mark.parametrize("case", ACCEPTED, ids=ids(ACCEPTED))
def test_remove_gives_a_sane_cutout(case: Case, model_path):
    expect = case.expect
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by zero on a flat prediction would warn
        result = remove(case.build())
    assert result.image.mode == "RGBA" and result.image.size == expect.size
    assert result.mask.mode == "L" and result.mask.size == expect.size
    alpha = np.asarray(result.mask)
    assert alpha.dtype == np.uint8  # never NaN-derived garbage
    if expect.alpha:
        # where the input itself is fully transparent, the cutout is too
        own = np.asarray(result.source.alpha)
        assert alpha[own == 0].max(initial=0) == 0


@pytest.mark.model
def test_16_bit_grey_keeps_its_tones(model_path):
    """rembg 2.0.86 converts I;16 with Pillow's clipping convert: every pixel comes out white."""
    result = remove(by_name("16-bit grey PNG").build())
    rgb = np.asarray(result.source.rgb)  # what the model and the cutout's visible pixels are made from
    assert rgb[0, 0].tolist() == [78, 78, 78]  # 20000 / 257
    assert rgb[32, 40].tolist() == [195, 195, 195]  # 50000 / 257


# --- the real CLI over the whole corpus, mixed with good files -----------------

@pytest.mark.model
def test_cli_over_corpus_mixed_with_good_files(tmp_path, model_path):
    src = tmp_path / "in"
    src.mkdir()
    paths: dict[str, Path] = {}
    for i, case in enumerate(CASES):
        p = src / f"{i:02d}-{case.filename}"
        p.write_bytes(case.build())
        paths[case.name] = p
    good = []
    for i, size in enumerate([(200, 150), (90, 160)]):
        p = src / f"good-{i}.jpg"
        p.write_bytes(save(photo(size), "JPEG"))
        good.append((p, size))
    out = tmp_path / "out"
    inputs = [str(good[0][0])] + [str(p) for p in paths.values()] + [str(good[1][0])]
    proc = subprocess.run([sys.executable, "-m", "rembg_core", "remove", *inputs, "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(REFUSED), proc.stderr
    for case in REFUSED:
        path = paths[case.name]
        line = next((ln for ln in lines if ln.startswith(f"error: {path}: ")), None)
        assert line is not None, f"no error line for {case.name}\n{proc.stderr}"
        assert case.expect.words.lower() in line.lower(), line
        assert not (out / f"{path.stem}.png").exists()
    for case in ACCEPTED:
        with Image.open(out / f"{paths[case.name].stem}.png") as im:
            assert im.mode == "RGBA" and im.size == case.expect.size, case.name
    for p, size in good:  # the good inputs before and after the hostile ones are all done
        with Image.open(out / f"{p.stem}.png") as im:
            assert im.size == size
    assert not list(out.glob(".*.part"))  # no half-written files left
