"""The Watermark page, headless through streamlit.testing (AppTest, Streamlit 1.67's file_uploader API)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from rembg_core import watermark as W
from tests.conftest import ROOT, png_bytes, subject_image

PAGE = "pages/watermark.py"
TIMEOUT = 180


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / PAGE), default_timeout=TIMEOUT)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def logo_upload(name: str = "acme.png") -> tuple[str, bytes, str]:
    return name, png_bytes(W.sample_logo()), "image/png"


def dusky_photo(size=(640, 480)) -> bytes:
    im = Image.new("RGB", size, (40, 60, 80))
    ImageDraw.Draw(im).ellipse((150, 100, 450, 380), fill=(160, 40, 40))
    return png_bytes(im, "JPEG", quality=92)


def test_page_works_with_nothing_uploaded():
    """A newcomer sees the sample logo as a watermark, on checker/light/dark and on a sample photo."""
    at = page().run()
    no_exception(at)
    assert at.title[0].value == "Watermark studio"
    assert any("sample logo" in c.value for c in at.caption)
    assert captions(at)[:3] == ["Transparent", "On light", "On dark"]
    assert len(at.get("image")) == 4
    labels = downloads(at)
    assert labels[:3] == ["Watermark PNG", "Watermark WebP", "Mask PNG"]
    assert labels[3].startswith("Download ") and labels[3].endswith("-watermarked.png")
    assert any("colour key on #FFFFFF" in m.value for m in at.markdown)


def test_designer_flow_logo_and_photo():
    """Defaults are the designer's watermark: trimmed, white, 30 %, bottom-right."""
    at = page().run()
    at.file_uploader(key="wm_logo").set_value(logo_upload())
    at.file_uploader(key="wm_photos").set_value([("holiday.jpg", dusky_photo(), "image/jpeg")])
    at.run()
    no_exception(at)
    assert at.radio(key="wm_colour").value == "White"
    assert at.slider(key="wm_opacity").value == 30
    assert at.checkbox(key="wm_trim").value is True
    assert at.selectbox(key="wm_position").value == "bottom-right"
    assert at.number_input(key="wm_margin").value is None  # automatic: 3 % of the shorter side
    expected = W.make_watermark(W.sample_logo(), W.WatermarkSpec(trim=True, tint=(255, 255, 255), opacity=0.3))
    w, h = expected.image.size
    assert any(f"**acme.png** → {w}×{h} px watermark" in m.value for m in at.markdown)
    assert captions(at)[3] == "holiday.jpg — 640×480 RGB"
    assert downloads(at) == ["Watermark PNG", "Watermark WebP", "Mask PNG", "Download holiday-watermarked.jpg"]
    assert not errors(at)


def test_several_photos_offer_a_zip_and_a_bad_one_is_named():
    at = page().run()
    at.file_uploader(key="wm_photos").set_value([
        ("a.jpg", dusky_photo(), "image/jpeg"),
        ("broken.jpg", b"\xff\xd8\xff this is not really a JPEG", "image/jpeg"),
        ("b.png", png_bytes(subject_image((300, 200), "RGBA")), "image/png"),
        ("a.jpg", dusky_photo((320, 240)), "image/jpeg"),
    ])
    at.run()
    no_exception(at)
    assert len(errors(at)) == 1 and "broken.jpg" in errors(at)[0]
    labels = downloads(at)
    assert labels[3] == "Download all 3 stamped photos (zip)"  # above the previews
    # (a two-column grid: the tree lists the left column first)
    assert sorted(labels[4:]) == ["Download a-watermarked-2.jpg", "Download a-watermarked.jpg",
                                  "Download b-watermarked.png"]
    assert "b.png — 300×200 RGBA" in captions(at)


def test_bad_logo_is_an_error_naming_the_file():
    at = page().run()
    at.file_uploader(key="wm_logo").set_value(("logo.png", b"%PDF-1.7 not an image", "image/png"))
    at.run()
    no_exception(at)
    assert len(errors(at)) == 1 and "logo.png" in errors(at)[0] and "PDF" in errors(at)[0]
    assert not at.get("download_button")


@pytest.mark.parametrize("colour", ["Original colours", "Greyscale", "Black", "Custom tint"])
def test_every_colour_choice(colour):
    at = page().run()
    at.radio(key="wm_colour").set_value(colour).run()
    no_exception(at)
    assert len(at.get("image")) == 4


def test_edges_canvas_and_tiling():
    at = page().run()
    at.radio(key="wm_edge").set_value("Hard (threshold)").run()
    assert at.slider(key="wm_threshold").value == 128
    at.radio(key="wm_edge").set_value("Feathered").run()
    at.checkbox(key="wm_square").check()
    at.number_input(key="wm_padding").set_value(12)
    at.number_input(key="wm_size").set_value(300)
    at.selectbox(key="wm_position").set_value("tile")
    at.run()
    no_exception(at)
    assert any("324×324 px watermark" in m.value for m in at.markdown)  # 300 + 2 × 12, square
    assert at.slider(key="wm_angle_True").value == 30  # tiles start on a diagonal
    assert at.number_input(key="wm_spacing").disabled is False
    assert at.number_input(key="wm_spacing").value is None  # automatic until set
    at.number_input(key="wm_spacing").set_value(0).run()  # tiles edge to edge
    no_exception(at)
    assert len(at.get("image")) == 4


def test_colour_key_controls_and_a_fully_transparent_result():
    at = page().run()
    at.selectbox(key="wm_source").set_value("key").run()
    at.checkbox(key="wm_key_auto").uncheck().run()
    at.color_picker(key="wm_key_color").set_value("#FFFFFF")
    at.slider(key="wm_tolerance").set_value(120)
    at.slider(key="wm_softness").set_value(0)
    at.run()
    no_exception(at)
    at.slider(key="wm_opacity").set_value(0).run()
    no_exception(at)
    assert any("fully transparent" in w.value for w in at.warning)


def test_own_transparency_on_an_opaque_logo_says_so():
    at = page().run()
    at.file_uploader(key="wm_logo").set_value(("flat.png", png_bytes(subject_image((200, 120))), "image/png"))
    at.selectbox(key="wm_source").set_value("alpha").run()
    no_exception(at)
    assert any("no transparency of its own" in w.value and "solid rectangle" in w.value for w in at.warning)
    at.selectbox(key="wm_source").set_value("key").run()
    assert not any("no transparency of its own" in w.value for w in at.warning)


@pytest.mark.model
def test_model_source_with_the_real_model(model_path):
    at = page().run()
    at.file_uploader(key="wm_logo").set_value(("cat.png", png_bytes(subject_image((320, 240))), "image/png"))
    at.selectbox(key="wm_source").set_value("model").run()
    no_exception(at)
    assert any("transparency from the background-removal model" in m.value for m in at.markdown)
    assert downloads(at)[:3] == ["Watermark PNG", "Watermark WebP", "Mask PNG"]


def test_app_lists_the_watermark_page(model_path):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    no_exception(at)
    assert at.title[0].value == "Watermark studio"


def test_a_refused_logo_keeps_every_setting_and_photo():
    at = page().run()
    at.slider(key="wm_opacity").set_value(55)
    at.file_uploader(key="wm_photos").set_value([("a.png", png_bytes(subject_image((300, 200))), "image/png")])
    at.run()
    at.file_uploader(key="wm_logo").set_value(("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                                                "image/svg+xml")).run()
    no_exception(at)
    assert len(errors(at)) == 1 and "logo.svg" in errors(at)[0] and "SVG" in errors(at)[0]
    at.file_uploader(key="wm_logo").set_value(("logo.png", png_bytes(subject_image((200, 100))), "image/png")).run()
    no_exception(at)
    assert not errors(at)
    assert at.slider(key="wm_opacity").value == 55
    assert "a.png — 300×200 RGB" in captions(at)
