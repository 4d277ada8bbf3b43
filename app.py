"""Rembg Lab: the entry file. Frames every page with the shared sidebar and routes with st.navigation."""

from __future__ import annotations

import streamlit as st

from pages import common
from rembg_core import memory, models, preview
from rembg_core.errors import ModelError

st.set_page_config(page_title="Rembg Lab", page_icon=preview.app_icon(), layout="wide",
                   initial_sidebar_state="expanded")

st.session_state[common.K_FRAMED] = True
for key, value in common.DEFAULTS.items():
    st.session_state.setdefault(key, value)


def sidebar() -> st.delta_generator.DeltaGenerator:
    """Draws the shared settings; returns a slot at the bottom for the memory footer."""
    with st.sidebar:
        st.subheader("Model and session")
        st.selectbox(
            "Model", list(models.REGISTRY), key=common.K_MODEL,
            format_func=lambda n: f"{n} ({models.REGISTRY[n].size_mb:g} MB)",
            help="u2netp is bundled; the others download from rembg's release page when reachable.",
        )
        spec = models.get_spec(st.session_state[common.K_MODEL])
        st.caption(f"{spec.about}. The model always sees a {spec.input_size}×{spec.input_size} input.")
        st.toggle("CPU memory arena", key=common.K_ARENA,
                  help="enable_cpu_mem_arena: ONNX Runtime keeps freed buffers in its own pool. "
                       "Faster reruns, memory stays with the process.")
        st.toggle("Memory pattern", key=common.K_PATTERN,
                  help="enable_mem_pattern: plans all intermediate buffers after the first run and "
                       "allocates them as one block from then on.")
        st.toggle("Shrink arena after each run", key=common.K_SHRINK,
                  help="RunOptions memory.enable_memory_arena_shrinkage: gives the arena's free "
                       "chunks back at the end of every run (only matters with the arena on).")
        st.selectbox("Threads", common.THREAD_CHOICES, key=common.K_THREADS, format_func=common.threads_label,
                     help="intra_op_num_threads")
        st.select_slider("max_size (longest side)", common.MAX_SIZE_CHOICES, key=common.K_MAX_SIZE,
                         format_func=common.max_size_label,
                         help="Caps the image before decoding finishes; the mask and the cutout are made "
                              "at this size. The model's own input is fixed. 1600 px by default; "
                              "\"no cap\" (far right) works at full size and needs far more memory.")
        st.divider()
        return st.container()


@st.fragment(run_every=common.RSS_REFRESH_SECONDS)
def memory_footer() -> None:
    # A fragment that redraws itself: a page's st.stop() would cut off anything drawn after it,
    # and a figure drawn once before the page ran would be stale by one run.
    st.caption(f"Server RSS now: **{common.mb(memory.rss())}** (the whole Streamlit process, all users)")
    common.release_control("sidebar_release")


def ensure_model(name: str) -> bool:
    """Fetch the model with a progress bar when it is missing; False (with a message) when that failed."""
    if models.is_available(name):
        return True
    failed = st.session_state.get(f"fetch_failed_{name}")
    if failed:
        box = st.empty()
        with box.container():
            st.error(f"**{name}**: {failed}")
            st.caption(f"{models.DEFAULT_MODEL} (the default) comes with `make run`; pick it in the sidebar, "
                       f"or retry once {name}'s source is reachable.")
            retry = st.button(f"Retry downloading {name}", key=f"retry_{name}")
        if not retry:
            return False
        box.empty()
    bar = st.progress(0.0, text=f"Fetching model {name}…")

    def progress(message: str, done: int, total: int | None) -> None:
        bar.progress(min(1.0, done / total) if total else 0.0, text=message)

    try:
        models.fetch(name, progress, timeout=20)  # a blocked network should not hang the page for minutes
    except ModelError as exc:
        bar.empty()
        st.session_state[f"fetch_failed_{name}"] = str(exc)
        st.rerun()  # the next run shows the failure with its hint and a retry button
    bar.empty()
    st.session_state.pop(f"fetch_failed_{name}", None)
    return True


PAGES = [
    st.Page("pages/remove.py", title="Remove background", icon=":material/content_cut:", default=True),
    st.Page("pages/batch.py", title="Batch", icon=":material/burst_mode:"),
    st.Page("pages/watermark.py", title="Watermark", icon=":material/branding_watermark:"),
    st.Page("pages/memory_lab.py", title="Memory Lab", icon=":material/memory:"),
    st.Page("pages/benchmark.py", title="Benchmark", icon=":material/speed:"),
    st.Page("pages/serving_lab.py", title="Serving Lab", icon=":material/dns:"),
]


page = st.navigation(PAGES)
with sidebar():
    memory_footer()
if ensure_model(st.session_state[common.K_MODEL]):
    page.run()
