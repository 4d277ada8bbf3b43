"""The Batch page, run by Streamlit's AppTest with the real model over the sample set plus a damaged file."""

from __future__ import annotations

import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_batch_page_sample_set_with_a_damaged_file(model_path):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/batch.py").run()
    assert not at.exception
    assert at.info  # nothing chosen yet: a hint, not an error
    at.radio(key="batch_source").set_value("Sample set").run()
    at.button(key="batch_run").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "**damaged.jpg**" in errors[0] and "\n" not in errors[0].split("**: ", 1)[1]
    run = at.session_state["batch_last"]
    n = len(run.rows)
    assert [r["status"] for r in run.rows].count("error") == 1
    assert len(run.rss) == n and len(run.thumbs) == n - 1
    with zipfile.ZipFile(run.zip_path) as zf:
        assert len(zf.namelist()) == n - 1 and zf.testzip() is None
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images out"] == f"{n - 1} / {n}" and metrics["Refused"] == "1"

    at.button(key="batch_run").click().run()  # the same batch again: every good image from the cache
    again = at.session_state["batch_last"]
    assert [r["status"] for r in again.rows].count("cache hit") == n - 1
    assert not run.zip_path.exists() and again.zip_path.exists()  # one result zip per session


def test_a_zip_counts_its_members_and_names_what_it_skips(model_path):
    import io

    from tests.conftest import png_bytes, subject_image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"photos/p{i}.png", png_bytes(subject_image((96, 64))))
        zf.writestr("photos/readme.txt", "not a picture")
    at = AppTest.from_file(str(ROOT / "pages" / "batch.py"), default_timeout=300).run()
    at.file_uploader(key="batch_upload").set_value([("set.zip", buf.getvalue(), "application/zip")]).run()
    assert at.button(key="batch_run").label == "Remove backgrounds of 3 files (1 other file will be refused)"
    at.button(key="batch_run").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "**set.zip:photos/readme.txt**" in errors[0] and "not an image" in errors[0]
    assert {m.label: m.value for m in at.metric}["Images out"] == "3 / 4"
