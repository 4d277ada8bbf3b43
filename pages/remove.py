"""Remove page (home): upload or pick a sample, get the cutout, see what it cost, download it."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from PIL import Image

from pages import common
from rembg_core import charts, compose, models, preview
from rembg_core.errors import ImageLoadError, ModelError
from rembg_core.measure.sampling import MemoryTrace, RssSampler
from rembg_core.pipeline import RemovalResult, remove

PREVIEW_SIDE = 1100  # px: what the browser gets; downloads are full size


@dataclass(frozen=True)
class Run:
    key: tuple
    name: str
    result: RemovalResult
    trace: MemoryTrace


def thumbnail(image: Image.Image) -> Image.Image:
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return small


def hex_to_rgba(value: str, alpha: int = 255) -> compose.Color:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), alpha


def what_max_size_changed(result: RemovalResult, max_size: int | None) -> list[str]:
    src = result.source
    s = models.get_spec(result.config.model).input_size
    (ow, oh), (dw, dh), (w, h) = src.original_size, src.decoded_size, src.size
    lines = [f"**Original** {ow}×{oh} px ({ow * oh / 1e6:.1f} MP)."]
    if max_size is None:
        lines.append("**max_size** is off: decode, mask and cutout all work at full size.")
    elif sorted((dw, dh)) != sorted((ow, oh)):
        then = f", then resized to {w}×{h}" if sorted((dw, dh)) != sorted((w, h)) else ""
        lines.append(f"**Decode**: the JPEG decoder scaled in the DCT domain to {dw}×{dh}{then} (max_size "
                     f"{max_size}) — the full-size bitmap never existed in memory.")
    elif (w, h) != (ow, oh):
        lines.append(f"**Decode**: decoded at full size, then resized to {w}×{h} (max_size {max_size}).")
    else:
        lines.append(f"**Decode**: already within max_size {max_size}; nothing scaled.")
    lines.append(f"**Model**: always sees {s}×{s} px, whatever max_size says.")
    lines.append(f"**Mask**: the {s}×{s} prediction is upscaled to {w}×{h}.")
    lines.append(f"**Compositing and download**: {w}×{h} px ({w * h * 4 / 1e6:.0f} MB as RGBA).")
    return lines


def options() -> dict:
    c1, c2, c3, c4 = st.columns(4)
    only_mask = c1.toggle("Only the mask", key="remove_only_mask", help="Download the greyscale mask as the result.")
    post = c2.toggle("Post-process mask", key="remove_post",
                     help="Opening, blur and threshold: a clean hard edge, loses fine hair.")
    crop = c3.toggle("Crop to subject", key="remove_crop", help="Trim the transparent margin around the subject.")
    use_bg = c4.toggle("Solid background", key="remove_use_bg", disabled=only_mask)
    spec = models.get_spec(common.settings().config.model)
    cap = common.settings().max_size
    st.caption(f"max_size (sidebar) is **{common.max_size_label(cap or 0)}**: it caps decoding, the mask upscale "
               f"and compositing — the model always sees {spec.input_size}×{spec.input_size} px.")
    bgcolor = None
    if use_bg and not only_mask:
        bgcolor = hex_to_rgba(st.color_picker("Background colour", "#FFFFFF", key="remove_bg"))
    return dict(only_mask=only_mask, post_process_mask=post, crop=crop, bgcolor=bgcolor)


def run(key: tuple, picked: common.Picked, opts: dict, settings: common.Settings) -> Run:
    with RssSampler(interval=0.005) as sampler:
        sampler.mark("session", "start")
        with common.lease(settings.config) as session:
            sampler.mark("session", "end")
            result = remove(picked.data, settings.config, max_size=settings.max_size, session=session,
                            on_stage=sampler.mark, **opts)
    return Run(key, picked.name, result, sampler.trace)


def show(run_: Run, settings: common.Settings) -> None:
    result, trace = run_.result, run_.trace
    before, after = st.columns(2)
    before.image(thumbnail(result.source.rgb), caption=f"Before — {run_.name}", width="stretch")
    shown = result.image if result.image.mode == "L" else preview.on_checkerboard(thumbnail(result.image))
    after.image(thumbnail(shown) if shown.mode == "L" else shown,
                caption="After — mask" if result.image.mode == "L" else "After — cutout (checkerboard = transparent)",
                width="stretch")
    for note in result.notes:
        st.caption(f"Note: {note}")
    common.download_buttons(result.image, result.mask, run_.name, key="remove_dl", icc=result.source.icc_profile)

    st.subheader("What it cost")
    m = st.columns(5)
    m[0].metric("Total time", f"{trace.duration * 1000:.0f} ms",
                help="Wall time of the whole run, getting the session (a model load the first time) included.")
    m[1].metric("RSS before", common.mb(trace.before))
    m[2].metric("RSS peak", common.mb(trace.peak), f"+{common.mb(trace.growth)}", delta_color="off")
    m[3].metric("RSS after", common.mb(trace.after), f"{trace.retained / common.sampling.MB:+.0f} MB retained",
                delta_color="inverse")
    ratio = trace.release_ratio
    m[4].metric("Released after peak", "–" if ratio is None else f"{ratio:.0%}",
                help="(peak − after) / (peak − before): how much of the rise was given back.")
    st.caption(f"Measured in this server process ({result.config.label()}, max_size "
               f"{common.max_size_label(settings.max_size or 0)}): other users' runs and cached sessions share it. "
               "The Memory Lab page runs clean comparisons in fresh processes.")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.rss_timeline(trace), key="remove_rss_chart")
    # The session stage as this page saw it: fetching (or first loading) the shared session.
    timings = {**result.timings, "session": trace.stage_seconds().get("session", 0.0)}
    right.plotly_chart(charts.stage_timings(timings), key="remove_timings_chart")
    with st.expander("What max_size changed for this image", expanded=False):
        st.markdown("\n".join(f"- {line}" for line in what_max_size_changed(result, settings.max_size)))


common.require_app_frame()
st.title("Remove a background")
st.caption("U²-Net on ONNX Runtime, on this server's CPU. Cutouts keep their true colours at soft edges.")
settings = common.settings()
picked = common.pick_image("remove")
opts = options()
if picked is None:
    st.info("Upload an image or pick a sample to see its cutout.", icon=":material/upload:")
    st.stop()

# Reruns (a toggle elsewhere, a download) show the last result instead of recomputing it.
key = (picked.ident, repr(settings), tuple(sorted((k, str(v)) for k, v in opts.items())))
last: Run | None = st.session_state.get("remove_last")
if last is None or last.key != key:
    try:
        with st.spinner(f"Removing the background of {picked.name}…"):
            last = run(key, picked, opts, settings)
    except (ImageLoadError, ModelError) as exc:
        st.session_state.pop("remove_last", None)
        common.show_error(picked.name, exc)
        st.stop()
    st.session_state["remove_last"] = last
show(last, settings)
