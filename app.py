"""Rembg Lab: the entry file. Frames every page with the shared sidebar and routes with st.navigation."""

from __future__ import annotations

import tracemalloc

import streamlit as st

from pages import common
from rembg_core import memory, models, preview
from rembg_core.dashboard.glossary import SIDEBAR_HELP
from rembg_core.measure.holdings import HOLDINGS

# The Python-heap layer of the memory split (Memory Lab) needs tracemalloc from the start; it costs a
# little per Python allocation, none in ONNX Runtime. REMBG_LAB_TRACE_PYTHON=0 turns it off.
if not tracemalloc.is_tracing() and common.TRACE_PYTHON:
    tracemalloc.start()

# "auto": open beside the page on a wide screen, closed on a phone (where it would cover most of it)
st.set_page_config(page_title="Rembg Lab", page_icon=preview.app_icon(), layout="wide",
                   initial_sidebar_state="auto")

st.session_state[common.K_FRAMED] = True
for key, value in common.DEFAULTS.items():
    st.session_state.setdefault(key, value)
# Hidden: the sidebar draws its own links (config.toml turns Streamlit's page list off, so the
# pages/ folder's raw list never shows on a fresh server's first visit either).
page = st.navigation(common.pages(), position="hidden")


def sidebar() -> st.delta_generator.DeltaGenerator:
    """Draws the page links and the shared settings; returns a slot at the bottom for the memory footer."""
    with st.sidebar:
        for p in common.pages():
            st.page_link(p)
        st.divider()
        st.subheader("Model and session")
        st.selectbox("Model", list(models.REGISTRY), key=common.K_MODEL, format_func=common.model_label,
                     help=SIDEBAR_HELP["model"])
        name = st.session_state[common.K_MODEL]
        spec, state = models.get_spec(name), common.model_states()[name]
        st.caption(f"{spec.about}. {spec.size_mb:g} MB; the model always sees a {spec.input_size}×"
                   f"{spec.input_size} input. **{state.state.capitalize()}**: {state.how}.")
        st.toggle("CPU memory arena", key=common.K_ARENA, help=SIDEBAR_HELP["arena"])
        st.toggle("Memory pattern", key=common.K_PATTERN, help=SIDEBAR_HELP["pattern"])
        st.toggle("Shrink arena after each run", key=common.K_SHRINK, help=SIDEBAR_HELP["shrink"])
        st.selectbox("Threads", common.THREAD_CHOICES, key=common.K_THREADS, format_func=common.threads_label,
                     help="intra_op_num_threads")
        st.select_slider("max_size (longest side)", common.MAX_SIZE_CHOICES, key=common.K_MAX_SIZE,
                         format_func=common.max_size_label, help=SIDEBAR_HELP["max_size"])
        st.divider()
        return st.container()


@st.fragment(run_every=common.RSS_REFRESH_SECONDS)
def memory_footer() -> None:
    # A fragment that redraws itself: a page's st.stop() would cut off anything drawn after it,
    # and a figure drawn once before the page ran would be stale by one run.
    st.caption(f"Server RSS now: **{common.mb(memory.rss())}** (the whole Streamlit process, all users)")
    held = HOLDINGS.summary()
    st.caption("**Sessions held** (shared by every visitor): " + (
        "none." if not held else "".join(f"  \n{i}. {line.text}" for i, line in enumerate(held, 1))))
    common.release_control("sidebar_release")


with sidebar():
    memory_footer()
page.run()  # pages that need the model ask for it themselves (common.ensure_model)
