"""Remove page (home): upload or pick a sample, get the cutout, see what it cost, download it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from pages import common
from rembg_core import RemoveOptions, colors, models, naming
from rembg_core.dashboard import charts
from rembg_core.dashboard import kept as kept_
from rembg_core.dashboard.glossary import GETTING_STARTED, OPTION_HELP, UNITS, max_size_story
from rembg_core.errors import ImageLoadError, ModelError
from rembg_core.measure.sampling import MemoryTrace, RssSampler
from rembg_core.pipeline import remove


@dataclass(frozen=True)
class Run:
    kept: kept_.Kept  # encoded files and thumbnails only: a tab never holds full-size arrays
    trace: MemoryTrace  # of the model run this mask came from
    timings: dict  # seconds per stage of that model run
    recomposed: float | None = None  # seconds, when only compositing options changed since


def options(max_size: int | None) -> RemoveOptions:
    c1, c2, c3, c4 = st.columns(4)
    only_mask = c1.toggle("Only the mask", help=OPTION_HELP["only_mask"], **common.kept("remove_only_mask"))
    post = c2.toggle("Post-process mask", help=OPTION_HELP["post"], **common.kept("remove_post"))
    crop = c3.toggle("Crop to subject", help=OPTION_HELP["crop"], **common.kept("remove_crop"))
    use_bg = c4.toggle("Solid background", disabled=only_mask, **common.kept("remove_use_bg"))
    spec = models.get_spec(common.settings().config.model)
    cap = common.settings().max_size
    st.caption(f"max_size (sidebar) is **{common.max_size_label(cap or 0)}**: it caps decoding, the mask upscale "
               f"and compositing — the model always sees {spec.input_size}×{spec.input_size} px.")
    bgcolor = None
    if use_bg and not only_mask:
        bgcolor = colors.parse_color(st.color_picker("Background colour", "#FFFFFF", **common.kept("remove_bg")))
    return RemoveOptions(max_size=max_size, only_mask=only_mask, post_process_mask=post, crop=crop, bgcolor=bgcolor)


def run(mask_key: tuple, picked: common.Picked, opts: RemoveOptions, settings: common.Settings) -> Run:
    with RssSampler(interval=0.005) as sampler:
        sampler.mark("session", "start")
        with common.lease(settings.config) as session:
            sampler.mark("session", "end")
            result = remove(picked.data, settings.config, opts, session=session, on_stage=sampler.mark)
    return Run(kept_.keep(result, mask_key, picked.name), sampler.trace, result.timings)


def after_caption(k: kept_.Kept) -> str:
    if k.options.only_mask:
        return "After — mask"
    if k.options.bgcolor is not None:
        r, g, b, _ = k.options.bgcolor
        return f"After — cutout on #{r:02X}{g:02X}{b:02X}"
    return "After — cutout (checkerboard = transparent)"


def downloads(k: kept_.Kept) -> None:
    """The result as PNG and WebP, and its mask. With "Only the mask" on, the result is the mask: two
    buttons, both named for it."""
    what = "mask" if k.options.only_mask else "cutout"
    name = naming.OutputNames(suffix=f"-{what}")
    files: list[tuple[str, bytes | Callable[[], bytes], str, str]] = [
             (f"Download {what} PNG", k.image_png, name(k.name, "png"), "image/png"),
             (f"Download {what} WebP", k.webp, name(k.name, "webp"), "image/webp")]
    if not k.options.only_mask:
        files.append(("Download mask PNG", k.alpha_png, naming.OutputNames(suffix="-mask")(k.name), "image/png"))
    for i, (col, (label, data, filename, mime)) in enumerate(zip(st.columns(len(files)), files)):
        col.download_button(label, data, filename, mime, key=f"remove_dl_{i}", on_click="ignore",
                            icon=":material/download:", width="stretch")


def show(run_: Run, settings: common.Settings) -> None:
    k, trace = run_.kept, run_.trace
    # one scale for both: columns as wide as the two previews, each image filling its column, so a crop
    # is drawn at the size it has in the Before image
    before, after = st.columns([k.before_size[0], k.after_size[0]])
    before.image(k.before, caption=f"Before — {k.name}", width="stretch")
    after.image(k.after, caption=after_caption(k), width="stretch")
    for note in k.notes:
        st.caption(f"Note: {note}")
    if run_.recomposed is not None:
        st.caption(f"Recomposed from the kept mask in {run_.recomposed * 1000:.0f} ms: only compositing options "
                   "changed, so the model did not run again. The figures below are from the model run.")
    downloads(k)

    st.subheader("What it cost")
    m = st.columns(5)
    m[0].metric("Total time", f"{trace.duration * 1000:.0f} ms",
                help="Wall time of the whole run, getting the session (a model load the first time) included.")
    m[1].metric("RSS before", common.mb(trace.before), help=UNITS["rss"])
    m[2].metric("RSS peak", common.mb(trace.peak), f"+{common.mb(trace.growth)}", delta_color="off",
                help=UNITS["peak"])
    m[3].metric("RSS after", common.mb(trace.after), f"{trace.retained / common.memory.MB:+.0f} MB retained",
                delta_color="off", help=UNITS["retained"])
    ratio = trace.release_ratio
    m[4].metric("Released after peak", "–" if ratio is None else f"{ratio:.0%}", help=UNITS["release"])
    st.caption(f"Measured in this server process ({k.config.label()}, max_size "
               f"{common.max_size_label(settings.max_size or 0)}): other users' runs and cached sessions share it. "
               "The Memory Lab page runs clean comparisons in fresh processes.")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.rss_timeline(trace), key="remove_rss_chart")
    # The session stage as this page saw it: fetching (or first loading) the shared session.
    timings = {**run_.timings, "session": trace.stage_seconds().get("session", 0.0)}
    right.plotly_chart(charts.stage_timings(timings), key="remove_timings_chart")
    with st.expander("What max_size changed for this image", expanded=False):
        story = max_size_story(k.original_size, k.decoded_size, k.source_size, settings.max_size,
                               models.get_spec(k.config.model).input_size)
        st.markdown("\n".join(f"- {line}" for line in story))


common.require_app_frame()
st.title("Remove a background")
st.caption("U²-Net on ONNX Runtime, on this server's CPU. Cutouts keep their true colours at soft edges.")
settings = common.settings()
picked = common.pick_image("remove")
with st.expander("Getting started", expanded=picked is None, icon=":material/school:"):
    st.markdown(GETTING_STARTED)
opts = options(settings.max_size)
if picked is None:
    st.info("Upload an image or pick a sample to see its cutout.", icon=":material/upload:")
    st.stop()

# The model's mask depends on the image and the session settings only; compositing options reuse it.
mask_key = (picked.ident, repr(settings.config), settings.max_size)
last: Run | None = st.session_state.get("remove_last")
if last is not None and last.kept.mask_key != mask_key:
    st.session_state.pop("remove_last", None)  # another file or setting: never show the old one's result
    last = None
try:
    if last is None:
        if not common.ensure_model(settings.config.model):
            st.stop()
        with st.spinner(f"Removing the background of {picked.name}…"):
            last = run(mask_key, picked, opts, settings)
    elif last.kept.options != opts:
        t0 = time.perf_counter()
        recomposed = kept_.recompose(last.kept, picked.data, opts)
        last = Run(recomposed, last.trace, last.timings, time.perf_counter() - t0)
except (ImageLoadError, ModelError) as exc:
    common.show_error(picked.name, exc)
    st.stop()
st.session_state["remove_last"] = last
show(last, settings)
