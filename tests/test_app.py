"""The Streamlit pages, driven headless with AppTest against the real model and real ONNX Runtime."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rembg_core.limits import LIMITS
from tests.conftest import ROOT, photo_named, png_bytes, subject_image

# Every page script (pages written in other branches are smoke-tested as soon as they land).
PAGES = ["app.py"] + sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py") if p.name != "common.py")
TIMEOUT = 180


def app(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def image_captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def photo(photos: list[Path]) -> tuple[str, bytes, str]:
    path = photo_named(photos, "car", "chelsea")
    return path.name, path.read_bytes(), "image/jpeg" if path.suffix == ".jpg" else "image/png"


# --- every page ------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_exception(page, model_path):
    at = app(page).run()
    no_exception(at)
    assert at.title, "every page has a title"


def test_app_frames_every_page_with_the_sidebar(model_path):
    at = app("app.py").run()
    assert at.title[0].value == "Remove a background"  # the home page
    assert at.sidebar.toggle(key="cfg_arena").value is True
    assert at.sidebar.select_slider(key="cfg_max_size").value == 1600  # the article's cap; "no cap" is explicit
    assert any("Server RSS now" in c.value for c in at.sidebar.caption)
    # (AppTest 1.67 drops the sidebar's elements from its tree after switch_page; the browser test covers them)
    for page, title in [("pages/memory_lab.py", "Memory Lab"), ("pages/benchmark.py", "Benchmark"),
                        ("pages/remove.py", "Remove a background")]:
        at.switch_page(page).run()
        no_exception(at)
        assert at.title[0].value == title


# --- Remove ---------------------------------------------------------------------------------

def test_remove_upload_shows_cutout_metrics_charts_and_downloads(model_path, photos):
    at = app("pages/remove.py").run()
    assert at.info, "a newcomer is told what to do"
    at.file_uploader(key="remove_upload").set_value(photo(photos)).run()
    no_exception(at)
    assert not at.error
    captions = image_captions(at)
    assert len(captions) == 2  # before and after
    assert any(photo(photos)[0] in c for c in captions) and any("cutout" in c for c in captions)
    labels = {m.label: m.value for m in at.metric}
    for label in ("RSS before", "RSS peak", "RSS after", "Released after peak", "Total time"):
        assert label in labels
    assert int(labels["RSS peak"].split()[0]) >= int(labels["RSS before"].split()[0])
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # RSS timeline and stage timings
    timeline = json.loads(charts[0].proto.spec)
    assert timeline["data"][0]["name"] == "RSS" and len(timeline["data"][0]["x"]) > 2
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download cutout PNG", "Download cutout WebP", "Download mask PNG"]
    assert [b.proto.url for b in at.get("download_button")]  # each has a file behind it


def test_remove_options_and_flags_take_effect(model_path):
    at = app("app.py").run()
    # AppTest 1.67 loses an st.navigation app's sidebar elements from its tree after a rerun (the browser
    # keeps them, see test_browser), so the sidebar's widgets are set through their session-state keys.
    at.session_state["cfg_arena"] = False
    at.session_state["cfg_max_size"] = 320
    at.file_uploader(key="remove_upload").set_value(("disc.png", png_bytes(subject_image((800, 600))), "image/png"))
    at.toggle(key="remove_only_mask").set_value(True).run()
    no_exception(at)
    assert any("arena off" in c.value and "max_size 320 px" in c.value for c in at.caption)
    assert "mask" in image_captions(at)[1]
    assert at.toggle(key="remove_use_bg").disabled  # a mask has no background to colour
    at.toggle(key="remove_only_mask").set_value(False).run()
    at.toggle(key="remove_crop").set_value(True)
    at.toggle(key="remove_use_bg").set_value(True).run()
    no_exception(at)
    assert at.color_picker(key="remove_bg").value.upper() == "#FFFFFF"
    assert "cutout" in image_captions(at)[1]


def test_remove_recomposes_without_the_model_when_only_compositing_changes(model_path):
    at = app("pages/remove.py").run()
    at.file_uploader(key="remove_upload").set_value(("disc.png", png_bytes(subject_image((640, 480))), "image/png"))
    at.run()
    first = at.session_state["remove_last"]
    from streamlit.proto.Metric_pb2 import Metric
    assert next(m for m in at.metric if m.label == "RSS after").proto.color == Metric.MetricColor.GRAY  # not red
    assert first.kept.inferences == 1 and "cutout (checkerboard = transparent)" in image_captions(at)[1]
    at.toggle(key="remove_crop").set_value(True).run()
    cropped = at.session_state["remove_last"]
    assert cropped.kept.inferences == 0 and cropped.trace is first.trace  # the model did not run again
    assert cropped.kept.size[0] < 640 and cropped.kept.mask_key == first.kept.mask_key
    stages = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]["y"]
    assert "inference" in stages  # the cost shown is still the model run's
    at.toggle(key="remove_use_bg").set_value(True).run()
    at.color_picker(key="remove_bg").set_value("#00FF00").run()
    no_exception(at)
    coloured = at.session_state["remove_last"]
    assert coloured.kept.inferences == 0 and coloured.trace is first.trace
    assert image_captions(at)[1] == "After — cutout on #00FF00"  # not "checkerboard = transparent"
    assert any("Recomposed from the kept mask" in c.value for c in at.caption)
    at.session_state["cfg_arena"] = False  # another session config: a new mask
    at.run()
    assert at.session_state["remove_last"].kept.inferences == 1


def test_remove_only_the_mask_downloads_are_named_for_the_mask(model_path):
    at = app("pages/remove.py").run()
    at.file_uploader(key="remove_upload").set_value(("disc.png", png_bytes(subject_image((320, 240))), "image/png"))
    at.toggle(key="remove_only_mask").set_value(True).run()
    no_exception(at)
    # the result is the mask: two files, both named for it (not a "-cutout.png" that is a mask)
    assert [b.proto.label for b in at.get("download_button")] == ["Download mask PNG", "Download mask WebP"]


def test_remove_keeps_upload_options_and_result_across_pages(model_path):
    at = app("app.py").run()
    at.file_uploader(key="remove_upload").set_value(("disc.png", png_bytes(subject_image((640, 480))), "image/png"))
    at.toggle(key="remove_crop").set_value(True).run()
    no_exception(at)
    result = at.session_state["remove_last"]
    at.switch_page("pages/batch.py").run()
    no_exception(at)
    at.switch_page("pages/remove.py").run()
    no_exception(at)
    assert at.toggle(key="remove_crop").value is True  # the option came back with the page
    assert any("Kept from before" in c.value and "disc.png" in c.value for c in at.caption)
    assert at.session_state["remove_last"] is result  # the same result, not a new model run
    assert image_captions(at)[0] == "Before — disc.png"


def test_an_unreachable_model_blocks_only_what_needs_it(model_path):
    from rembg_core import models

    missing = next((n for n in models.REGISTRY if not models.is_available(n)), None)
    if missing is None:
        pytest.skip("every model is on disk here")
    at = app("app.py")
    at.session_state["cfg_model"] = missing
    at.run()
    no_exception(at)
    assert at.title[0].value == "Remove a background"  # the page keeps its title and its uploader
    at.file_uploader(key="remove_upload").set_value(("disc.png", png_bytes(subject_image()), "image/png")).run()
    if not models.is_available(missing):  # fetched meanwhile on a machine that reaches it: nothing to block
        assert any(missing in e.value for e in at.error)
    at.switch_page("pages/watermark.py").run()  # a colour key needs no model
    no_exception(at)
    assert at.title[0].value == "Watermark studio" and not at.error
    assert any("watermark" in c for c in image_captions(at)) or at.get("image")
    at.switch_page("pages/serving_lab.py").run()
    assert at.title[0].value == "Serving Lab" and not at.exception


def test_the_model_picker_says_where_each_model_is(model_path):
    from pages import common

    labels = {name: common.model_label(name) for name in common.models.REGISTRY}
    assert labels["u2netp"].endswith("on disk") and "4.4 MB" in labels["u2netp"] and "320 px" in labels["u2netp"]
    assert all(label.rsplit(" · ", 1)[-1] in ("on disk", "can be fetched", "not reachable here")
               for label in labels.values())


def test_remove_sample(model_path):
    at = app("pages/remove.py").run()
    at.selectbox(key="remove_sample").set_value("Apple on a table (drawn)").run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 2


@pytest.mark.parametrize("name, data, reason", [
    ("notes.png", b"just some text\n", "not an image"),
    ("empty.jpg", b"", "empty"),
    ("cut.png", png_bytes(subject_image())[:200], "truncated"),
])
def test_remove_bad_upload_names_the_file_and_the_page_keeps_working(model_path, name, data, reason):
    at = app("pages/remove.py").run()
    at.file_uploader(key="remove_upload").set_value((name, data, "image/png")).run()
    no_exception(at)
    assert len(at.error) == 1
    assert name in at.error[0].value and reason in at.error[0].value.lower()
    assert not at.get("plotly_chart")
    at.file_uploader(key="remove_upload").set_value(("good.png", png_bytes(subject_image()), "image/png")).run()
    no_exception(at)
    assert not at.error and len(at.get("plotly_chart")) == 2


def test_release_control_reports_rss(model_path):
    at = app("app.py").run()
    assert at.sidebar.button(key="sidebar_release").label == "Release sessions and trim memory"
    at.selectbox(key="remove_sample").set_value("Toy robot (drawn)").run()
    at.switch_page("pages/memory_lab.py").run()
    at.button(key="lab_release").click().run()
    no_exception(at)
    assert any(c.value.startswith("RSS ") and "freed" in c.value for c in at.caption)
    # what each layer gave back, and what stays
    # the weights given back are every held session's (earlier tests in this process may hold others
    # beside the Remove page's u2netp, 4.4 MB), so at least u2netp's
    given = [int(m.group(1)) for c in at.caption if "Stays: code and mapped files" in c.value
             for m in [re.search(r"model weights \+(\d+)", c.value)] if m]
    assert given and given[0] >= 4, [c.value for c in at.caption if c.value.startswith("RSS ")]


# --- the shared session cache -------------------------------------------------------------

def test_sessions_come_from_the_library_cache_and_are_released_per_config(model_path):
    from pages import common
    from rembg_core import session
    from rembg_core.session import SessionConfig

    a, b = SessionConfig(), SessionConfig(enable_cpu_mem_arena=False)
    with common.lease(a) as first:
        assert first is session.get_session(SessionConfig())  # the library's cache, not a second one
    other = common.shared_session(b)
    assert other is not first and other.config == b
    # the idle policy releases from its own timer thread: that must work outside a script run
    worker = threading.Thread(target=session.release, args=(a,))
    worker.start()
    worker.join()
    assert not session.is_cached(a)
    assert common.shared_session(a) is not first  # rebuilt after release
    assert common.shared_session(b) is other  # the other config was left alone
    assert common.idle_policy().idle_after == LIMITS.idle_seconds


def test_remove_page_and_quality_check_share_one_session(model_path):
    """In one dashboard process, the Remove page and the Benchmark page's quality check use the same
    session object for the same config (each session's arena is counted once)."""
    from pages import common
    from rembg_core import session
    from rembg_core.quantize import quality
    from rembg_core.samples import robot_scene
    from rembg_core.session import SessionConfig

    session.clear()
    at = app("pages/remove.py").run()
    at.selectbox(key="remove_sample").set_value("Toy robot (drawn)").run()
    no_exception(at)
    assert session.cached_configs() == [SessionConfig()]  # the page's removal loaded the one session
    with common.lease(SessionConfig()) as removing:
        pass
    seen = []

    def get(config):  # the page's own `get`, recorded
        seen.append(common.shared_session(config))
        return seen[-1]

    quality.side_by_side(robot_scene(), reference="u2netp", candidate="u2netp", get=get)
    assert seen and all(s is removing for s in seen)
    assert session.cached_configs() == [SessionConfig()]


# --- Memory Lab -----------------------------------------------------------------------------

@pytest.mark.slow
def test_memory_lab_in_process_then_isolated_with_the_arena_off(model_path):
    at = app("pages/memory_lab.py").run()
    assert at.selectbox(key="lab_sample").value is not None  # a sample is ready: one click to a result
    at.slider(key="lab_repeats").set_value(2)
    at.button(key="lab_run_here").click().run()
    no_exception(at)
    assert any(s.value == "Run #1: in-process" for s in at.subheader)
    labels = {m.label: m.value for m in at.metric}
    assert {"Median per image", "RSS before", "Peak", "After"} <= set(labels)
    from streamlit.proto.Metric_pb2 import Metric
    after = next(m for m in at.metric if m.label == "After")
    assert after.proto.color == Metric.MetricColor.GRAY  # memory kept is a figure, not an alarm: never red
    assert all(m.proto.help for m in at.metric if m.label in ("Peak", "After", "Released after peak"))
    assert len(at.get("plotly_chart")) == 1

    at.session_state["cfg_arena"] = False  # the sidebar is the one place the flags live
    at.button(key="lab_run_iso").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert any(s.value == "Run #2: isolated" for s in at.subheader)
    table = at.dataframe[0].value
    assert list(table["where"]) == ["isolated", "in-process"]
    assert "arena off" in table["flags"].iloc[0] and "arena on" in table["flags"].iloc[1]
    assert (table["peak MB"] >= table["before MB"]).all()
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the last run's timeline and the overlay of both
    overlay = json.loads(charts[1].proto.spec)
    assert [t["name"] for t in overlay["data"]] == [
        "#1 in-process: arena on, pattern on", "#2 isolated: arena off, pattern on"]

    at.button(key="lab_clear").click().run()
    assert not at.dataframe


def test_memory_lab_explains_flags_and_claims(model_path):
    at = app("pages/memory_lab.py").run()
    text = " ".join(m.value for m in at.markdown)
    for flag in ("enable_cpu_mem_arena", "enable_mem_pattern", "arena shrinkage"):
        assert flag in text
    assert all(t.key not in ("lab_arena", "lab_pattern") for t in at.toggle)  # one source of truth: the sidebar
    assert at.button(key="lab_claims_check").label == "Check the claims"
    assert "1600 px" in text and "--preload" in text  # the claims are listed, with no verdict before a run
    assert not any(word in text for word in ("holds", "does not hold", "≈530"))


def test_memory_lab_shows_a_saved_claims_run_with_where_and_when(model_path):
    from rembg_core.claims import ClaimsRun, TrialRecord
    from rembg_core.claims import verdicts as v

    records = [TrialRecord("arena", v.ARENA_OFF, 0, True, "", "x.png", {"release_ratio": 0.97, "retained": 1})]
    run = ClaimsRun((v.arena_off_release(records), v.preload([])),
                    {"when": "2026-01-02T03:04:05+00:00", "where": "benchhost", "machine": {"summary": "8 CPUs"},
                     "command": "python -m rembg_core claims --json run.json"})
    at = app("pages/memory_lab.py").run()
    at.file_uploader(key="lab_claims_upload").set_value(("run.json", run.to_json().encode(), "application/json")).run()
    no_exception(at)
    assert any("2026-01-02" in i.value and "benchhost" in i.value for i in at.info)
    table = at.dataframe[-1].value
    assert list(table["verdict"]) == ["holds", "could not tell"]
    at.file_uploader(key="lab_claims_upload").set_value(("bad.json", b'{"schema": "x"}', "application/json")).run()
    assert any("bad.json" in e.value and "not a saved claims run" in e.value for e in at.error)


@pytest.mark.slow
def test_memory_lab_isolated_bad_file_shows_the_one_line_reason(model_path):
    at = app("pages/memory_lab.py").run()
    at.file_uploader(key="lab_upload").set_value(("notes.png", b"these are notes, not pixels", "image/png")).run()
    at.button(key="lab_run_iso").click().run()
    no_exception(at)
    isolated = [e.value for e in at.error]
    at.button(key="lab_run_here").click().run()
    in_process = [e.value for e in at.error]
    assert len(isolated) == 1 and isolated == in_process, (isolated, in_process)
    assert "Error" not in isolated[0] and "exited with status" not in isolated[0]


# --- Benchmark ------------------------------------------------------------------------------

@pytest.mark.slow
def test_benchmark_sweep_chart_and_exports(model_path):
    at = app("pages/benchmark.py")
    at.session_state["cfg_max_size"] = 512  # the sidebar's max_size: the page follows it
    at.run()
    assert any("max_size: **512 px**, the sidebar's setting" in c.value for c in at.caption)
    at.slider(key="bench_repeats").set_value(1)
    at.slider(key="bench_warmups").set_value(1)
    at.button(key="bench_run").click().run()
    no_exception(at)
    # two rounds of one image: two timings per config, too few for an interval, so no recommendation
    assert not at.success and at.warning[0].value.startswith("**Could not tell** which configuration")
    assert "2 samples per configuration" in at.warning[0].value
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    points = [t for t in spec["data"] if t["name"] in ("Pareto front", "dominated")]
    assert sum(len(t["x"]) for t in points) == 4
    assert not any(t["name"] == "recommended" for t in spec["data"])
    table = at.dataframe[0].value
    assert len(table) == 4 and (table["median_s"] != "failed").all()
    assert set(table["interval_s"]) == {"–"} and "None" not in table.to_string()
    assert [b.proto.label for b in at.get("download_button")] == ["Download CSV", "Download JSON"]


def test_benchmark_refuses_a_non_image_before_measuring(model_path):
    at = app("pages/benchmark.py").run()
    at.file_uploader(key="bench_upload").set_value(("notes.png", b"just some text", "image/png")).run()
    at.button(key="bench_run").click().run()
    no_exception(at)
    assert [e.value for e in at.error] == ["**notes.png**: not an image: this is a text file"]
    assert "bench_result" not in at.session_state and not at.get("download_button")


def test_benchmark_opens_a_saved_sweep_and_refuses_junk(model_path):
    from rembg_core.measure.configs import ProbeConfig
    from rembg_core.measure.records import ProbeRecord
    from rembg_core.measure.sweep import SweepResult
    from rembg_core.memory import MB, MemoryFigures
    from rembg_core.session import SessionConfig

    def record(name, arena, latency, retained):
        cfg = ProbeConfig(SessionConfig(enable_cpu_mem_arena=arena), name=name)
        return ProbeRecord(cfg, "x.png", True, repeats=2, latencies=(latency, latency),
                           memory=MemoryFigures(90 * MB, 500 * MB, (90 + retained) * MB))

    saved = SweepResult((record("fast", True, 0.2, 300), record("lean", False, 0.3, 20)), "x.png", None, 2, 1, 1)
    at = app("pages/benchmark.py").run()
    at.file_uploader(key="bench_load").set_value(("bad.json", b"{nope", "application/json")).run()
    no_exception(at)
    assert "bad.json" in at.error[0].value
    at.file_uploader(key="bench_load").set_value(
        ("sweep.json", json.dumps(saved.to_dict()).encode(), "application/json")).run()
    no_exception(at)
    assert not at.error
    assert at.warning[0].value.startswith("**Could not tell**")  # two timings each, one round
    assert len(at.dataframe[0].value) == 2
