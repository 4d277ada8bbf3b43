"""Hostile uploads through the real Streamlit pages (AppTest, real model): st.error naming the file,
no exception, and the page keeps serving."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.hostile import Accept, by_name, photo, save

pytestmark = [pytest.mark.model, pytest.mark.slow]
TIMEOUT = 300
REFUSED_UPLOADS = ["tiny PNG declaring 60000×60000", "GIF declaring 65535×65535", "ZIP as .png", "HTML as .png",
                   "PNG with bad IDAT CRC", "PNG with garbage zlib in IDAT", "JPEG truncated mid-scan",
                   "random bytes", "valid 12000×12000 PNG", "Git LFS pointer as .png"]
ACCEPTED_UPLOADS = ["16-bit grey PNG", "animated GIF", "EXIF orientation 6", "1×1"]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_remove_page_refuses_hostile_uploads_by_name(model_path):
    at = AppTest.from_file(str(ROOT / "pages" / "remove.py"), default_timeout=TIMEOUT).run()
    for name in REFUSED_UPLOADS:
        case = by_name(name)
        upload = f"{case.name.split()[0].lower()}-{case.filename}"
        at.file_uploader(key="remove_upload").set_value((upload, case.build(), "image/png")).run()
        no_exception(at)
        assert len(at.error) == 1, (name, [e.value for e in at.error])
        text = at.error[0].value
        assert f"**{upload}**" in text and case.expect.words.lower() in text.lower(), text
        assert "Traceback" not in text and "\n" not in text
    for name in ACCEPTED_UPLOADS:  # odd but valid: a cutout, no error
        case = by_name(name)
        assert isinstance(case.expect, Accept)
        at.file_uploader(key="remove_upload").set_value((case.filename, case.build(), "image/png")).run()
        no_exception(at)
        assert not at.error, (name, [e.value for e in at.error])
        assert at.session_state["remove_last"].kept.size == case.expect.size


def test_batch_page_refuses_each_hostile_file_and_finishes_the_rest(model_path):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/batch.py").run()
    files = [("good-1.jpg", save(photo((300, 200)), "JPEG"), "image/jpeg")]
    for name in REFUSED_UPLOADS[:6]:
        case = by_name(name)
        files.append((case.filename, case.build(), "image/png"))
    files.append(("good-2.png", save(photo((120, 240)), "PNG"), "image/png"))
    at.file_uploader(key="batch_upload").set_value(files).run()
    at.button(key="batch_run").click().run()
    no_exception(at)
    run = at.session_state["batch_last"]
    status = {r["file"]: r["status"] for r in run.rows}
    assert status["good-1.jpg"] != "error" and status["good-2.png"] != "error"
    assert [s for s in status.values()].count("error") == 6
    text = at.error[0].value
    for name in REFUSED_UPLOADS[:6]:
        case = by_name(name)
        line = next(ln for ln in text.splitlines() if f"**{case.filename}**" in ln)
        assert case.expect.words.lower() in line.lower(), line
