"""`python -m rembg_core edges` (real u2netp, real children) and the Edges page (AppTest, real run)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rembg_core", "edges", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def test_non_rgba_image_is_refused_in_one_line(tmp_path):
    jpg = tmp_path / "opaque.jpg"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(jpg)
    out = cli("--image", str(jpg), "--only-images")
    assert out.returncode == 3
    assert out.stderr.strip().splitlines()[0] == f"error: {jpg}: has no transparency: give an RGBA cutout (a PNG or WebP with alpha)"
    assert "Traceback" not in out.stderr


def test_non_image_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("these are not pixels")
    out = cli("--image", str(bad), "--only-images")
    assert out.returncode == 3
    first = out.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: {bad}: ") and "Traceback" not in out.stderr


def test_usage_errors_exit_2():
    assert cli("--modes", "sharpen").returncode == 2
    assert cli("--rounds", "0").returncode == 2
    out = cli("--only-images")
    assert out.returncode == 2 and out.stderr.strip().startswith("error: nothing to score")


def test_a_run_prints_the_table_and_saves_provenance(tmp_path, model_path):
    cut = np.zeros((90, 120, 4), np.uint8)
    cut[20:70, 30:90] = (230, 180, 40, 255)
    cut[20:70, 90:96, 3] = np.linspace(200, 20, 6).astype(np.uint8)  # a soft edge
    cut[20:70, 90:96, :3] = (230, 180, 40)
    png = tmp_path / "bar.png"
    Image.fromarray(cut, "RGBA").save(png)
    bad = tmp_path / "flat.jpg"
    Image.new("RGB", (10, 10)).save(bad)
    out_json, crops = tmp_path / "run.json", tmp_path / "crops"
    out = cli("--image", str(png), "--image", str(bad), "--foregrounds", "fur", "--backgrounds", "white",
              "--modes", "none", "--rounds", "1", "--size", "160", "--json", str(out_json), "--crops", str(crops))
    assert out.returncode == 3, out.stderr  # the flat JPEG was refused; everything else ran
    assert f"error: {bad}: has no transparency" in out.stderr
    assert "band.sad" in out.stdout and "none" in out.stdout
    run = json.loads(out_json.read_text())
    assert set(run["meta"]) >= {"when", "where", "machine", "command", "loadavg_start", "loadavg_end"}
    assert run["meta"]["command"].startswith("python -m rembg_core edges")
    assert run["composites"] == ["fur/white", "bar.png/white"]
    (res,) = run["results"]
    assert res["ok"] and len(res["band"]) == 2 and res["runs"][0]["growth"][0] > 0
    assert all(s["pixels"] > 0 and s["sad"] > 0 for s in res["band"])  # u2netp is not exact on these edges
    assert sorted(p.name for p in crops.iterdir()) == ["bar.png-white.png", "fur-white.png"]


def test_edges_page_smoke_and_a_real_run(model_path):
    at = AppTest.from_file(str(ROOT / "pages" / "edges.py"), default_timeout=600).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Edges"
    at.multiselect(key="edges_fg").set_value(["veil"])
    at.multiselect(key="edges_bg").set_value(["green"])
    at.multiselect(key="edges_modes").set_value(["none"])
    at.number_input(key="edges_rounds").set_value(1)
    at.selectbox(key="edges_size").set_value(256)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="edges_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = at.session_state["edges_last"]
    assert shown.names == ("veil/green",) and shown.rows[0]["mode"] == "none"
    assert any("Measured" in c.value and "load average" in c.value for c in at.caption)
    assert len(at.dataframe) >= 1
    assert at.get("image"), "the crops"
    assert shown.failures == ()


def test_page_refuses_a_broken_upload_by_name():
    from rembg_core.dashboard import edges as view

    layers, refused = view.cutouts([("holiday.jpg", b"\xff\xd8\xff not really")])
    assert layers == [] and refused[0][0] == "holiday.jpg" and refused[0][1]
