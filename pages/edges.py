"""Edges: every edge mode scored against known truth (synthetic composites), with its time and peak
memory from fresh processes, zoomed crops side by side and a before/after view that keeps alpha."""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from pages import common
from rembg_core.dashboard import compare
from rembg_core.dashboard import edges as view
from rembg_core.edgequality import runner, synthetic

LAST = "edges_last"
SIZES = (256, 384, 512, 640)

common.require_app_frame()
st.title("Edges")
st.caption("Hair, fur and a veil drawn with exact coverage (and any RGBA cutout you give) over a green screen, "
           "an out-of-focus colour field and white: the true alpha and colour are known, so each edge mode is "
           "scored against them, not judged by eye. Lower is better in every column.")

left, right = st.columns([3, 2])
fgs = left.multiselect("Foregrounds", synthetic.FOREGROUNDS, default=list(synthetic.FOREGROUNDS), key="edges_fg")
bgs = left.multiselect("Backgrounds", synthetic.BACKGROUNDS, default=["green"], key="edges_bg")
offered = runner.available_modes()
modes = left.multiselect("Modes", offered, default=list(offered), key="edges_modes",
                         help="\n".join(f"- **{m}**: {view.MODE_LABELS[m]}" for m in offered))
if not runner.peer_available():
    left.caption("rembg is not installed here, so its modes are not offered (`pip install -r requirements-dev.txt`).")
ups = common.uploads("RGBA cutouts (optional)", "edges_uploads", multiple=True, container=right,
                     help="PNG or WebP with transparency: its alpha and colour become the truth.")
c1, c2 = right.columns(2)
rounds = c1.number_input("Rounds", 1, 5, 2, key="edges_rounds", help="Interleaved; each mode a fresh process per round.")
size = c2.selectbox("Size (px)", SIZES, index=2, key="edges_size", help="Side of the procedural composites.")

common.stopped_notice("edges")
layers, refused = view.cutouts([(u.name, u.data) for u in ups])
for name, reason in refused:
    common.refuse(name, reason)
count = (len(fgs) + len(layers)) * len(bgs)
if not modes or not count:
    st.info("Pick at least one mode, and a foreground (or an RGBA cutout) with a background.", icon=":material/tune:")
    st.stop()
label = f"Score {len(modes)} mode(s) on {count} composite(s), {rounds} round(s)"
if st.button(label, type="primary", key="edges_run", icon=":material/play_arrow:"):
    st.session_state.pop(LAST, None)
    if common.ensure_model("u2netp"):
        with st.spinner("Drawing the composites…"):
            comps = view.composites(fgs, bgs, layers, size)
        bar = st.progress(0.0, text="starting…")
        with common.stoppable("edges", "the edge run") as job:

            def progress(done: int, total: int, what: str) -> None:
                job.step(done, total, what)
                bar.progress(done / total if total else 1.0, text=what)

            result = runner.run_edges(comps, tuple(modes), rounds=int(rounds), progress=progress,
                                      command=f"Edges page: {', '.join(modes)}; {len(comps)} composites; "
                                              f"{rounds} rounds")
            st.session_state[LAST] = view.shown(result, comps)
        bar.empty()

shown: view.Shown | None = st.session_state.get(LAST)
if shown is None:
    st.stop()
st.caption(shown.provenance)
for mode, reason in shown.failures:
    st.error(f"**{mode}**: {reason}", icon=":material/error:")
st.subheader("Scores (mean over composites) with time and peak memory")
SHORT = {"band.sad": "SAD", "band.mse": "MSE", "band.grad": "Grad", "band.conn": "Conn", "band.composite": "Comp",
         "whole.sad": "SAD (whole)", "whole.composite": "Comp (whole)"}
st.caption("SAD … Comp: over the soft band; “(whole)”: over the whole image. Hover a header for its unit.")
st.dataframe(shown.rows, hide_index=True, column_config={
    "time s/image": st.column_config.TextColumn(help="Median over rounds [min–max] of the mean seconds per image, "
                                                "bytes in → RGBA out"),
    "peak growth MB": st.column_config.TextColumn(help="Median over rounds [min–max] of the largest RSS growth "
                                                  "during one image (kernel high-water mark, reset per image)"),
    **{k: st.column_config.TextColumn(SHORT[k], help=v, width="small") for k, v in view.UNITS_HELP.items()
       if k in SHORT}})
if shown.comparisons:
    st.subheader("Ours against rembg and against no edge stage")
    st.caption("Quality: “lower”/“higher” only when a one-sided sign test over the composites says so (p < 0.05); "
               "time and memory only when the rounds' ranges do not overlap (3 rounds at least). Otherwise "
               "“could not tell”, or “about the same” for means within 2 %.")
    st.dataframe(shown.comparisons, hide_index=True)
st.download_button("Download the run (JSON)", shown.json, "edges-run.json", "application/json", key="edges_json",
                   on_click="ignore", icon=":material/download:")

st.subheader("The same edge, every mode")
names = shown.names
pick = int(st.selectbox("Composite", list(range(len(names))), format_func=lambda i: names[i], key="edges_pick") or 0)
st.image(shown.crops[pick], caption="Zoomed 4× (nearest neighbour): the photo, the truth, then each mode; "
         "top over light, bottom over dark.")
if shown.cutouts:
    mode = st.radio("Before / after", list(shown.cutouts), horizontal=True, key="edges_cmp_mode") or next(iter(shown.cutouts))
    components.html(compare.compare_html(shown.photos[pick], shown.cutouts[mode][pick],
                                         labels=("photo", f"{mode} cutout")), height=compare.frame_height())
