"""Remove page (home): upload or pick a sample, get the cutout, see what it cost, download it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from pages import common
from rembg_core import RemoveOptions, colors, models, naming
from rembg_core.dashboard import charts, compare
from rembg_core.dashboard import kept as kept_
from rembg_core.dashboard.glossary import GETTING_STARTED, OPTION_HELP, UNITS, max_size_story
from rembg_core.errors import ImageLoadError, ModelError
from rembg_core.measure import noise
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
    return RemoveOptions(max_size=max_size, only_mask=only_mask, post_process_mask=post, crop=crop, bgcolor=bgcolor,
                         **edge_options())


EDGE_MODES = {"None": "the source colour at soft edges (rembg's alpha)",
              "Decontaminate": "the subject's own colour estimated at soft edges",
              "Matting": "alpha refined in the uncertain band (rembg's -a rule), then the colour"}


def edge_options() -> dict[str, Any]:
    """The Edges control: RemoveOptions fields for the chosen mode; changing it recomposes from the kept mask."""
    c1, c2 = st.columns([3, 1])
    mode = c1.segmented_control("Edges", list(EDGE_MODES), default="None", **common.kept("remove_edges"),
                                help="; ".join(f"{k}: {v}" for k, v in EDGE_MODES.items())) or "None"
    haze = c2.toggle("Clean haze", **common.kept("remove_clean_haze"),
                     help="Clear faint background haze (alpha below 32, far from the subject) and stray specks.")
    fields: dict[str, Any] = {"decontaminate": mode == "Decontaminate", "alpha_matting": mode == "Matting",
                              "clean_haze": haze}
    if mode == "Matting":
        with st.expander("Matting thresholds", expanded=False):
            t1, t2, t3 = st.columns(3)
            fg = t1.number_input("Foreground above", 1, 255, 240, **common.kept("remove_am_fg"), help="rembg's -af")
            bg = t2.number_input("Background below", 0, 254, 10, **common.kept("remove_am_bg"), help="rembg's -ab")
            erode = t3.number_input("Erode size", 0, 255, 10, **common.kept("remove_am_erode"), help="rembg's -ae")
        if bg >= fg:
            st.warning(f"The background threshold ({bg}) must be below the foreground threshold ({fg}); "
                       "using rembg's 240 and 10.")
            fg, bg = 240, 10
        fields.update(alpha_matting_foreground_threshold=int(fg), alpha_matting_background_threshold=int(bg),
                      alpha_matting_erode_size=int(erode))
    return fields


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
    if not k.options.only_mask and k.size == k.source_size:  # a slider needs the cutout at the photo's frame
        with st.expander("Before/after slider: checkerboard, light or dark, zoom onto an edge (alpha kept)",
                         icon=":material/compare:"):
            if st.session_state.get("remove_cmp", (None,))[0] is not k:  # made once per result
                st.session_state["remove_cmp"] = (k, compare.compare_html(k.before, k.image_png,
                                                                          labels=(k.name, "cutout")))
            components.html(st.session_state["remove_cmp"][1], height=compare.frame_height())
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
    grew = noise.growth(trace.before, trace.peak)
    kept_ = noise.retained(trace.before, trace.after)
    released = noise.release(trace.before, trace.peak, trace.after)
    m[2].metric("RSS peak", common.mb(trace.peak), None if grew.noise else grew.text, delta_color="off",
                help=UNITS["peak"])
    m[3].metric("RSS after", common.mb(trace.after), None if kept_.noise else f"{kept_.text} retained",
                delta_color="off", help=UNITS["retained"])
    m[4].metric("Released after peak", released.text, help=UNITS["release"])
    why = [f"{name}: {x.why}" for name, x in (("growth", grew), ("retained", kept_), ("released", released)) if x.why]
    st.caption(f"Measured in this server process ({k.config.label()}, max_size "
               f"{common.max_size_label(settings.max_size or 0)}): other users' runs and cached sessions share it. "
               "The Memory Lab page runs clean comparisons in fresh processes."
               + "".join(f"  \n– {w}" for w in why))
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
