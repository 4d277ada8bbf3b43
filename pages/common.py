"""Shared UI helpers for every page: settings, the cached session, errors, downloads.

Pages import this as `from pages.common import ...` (app.py's folder is on sys.path under
`streamlit run` and in tests). The settings live in st.session_state under the SIDEBAR_KEYS;
app.py draws the widgets, and a page run on its own gets the defaults.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas  # noqa: F401 — see below
import plotly.graph_objects  # noqa: F401
import streamlit as st
from PIL import Image
from streamlit.runtime.pages_manager import PagesManager

from rembg_core import memory, models, samples, session
from rembg_core.errors import ImageLoadError, ModelError
from rembg_core.idle import IdleReleaser
from rembg_core.imageio import encode
from rembg_core.limits import LIMITS
from rembg_core.session import ModelSession, SessionConfig

# pandas and plotly are imported here, once, when the first session loads this module. Streamlit and
# plotly otherwise import pandas lazily inside st.plotly_chart/st.dataframe, and several sessions doing
# that first import at the same moment race: "partially initialized module 'pandas' has no attribute
# 'Series'" (seen with four simultaneous users in tests/test_multiuser.py).

K_FRAMED = "app_framed"  # set by app.py on every run

# Session-state keys of the shared sidebar, with the value a page sees when no sidebar was drawn.
K_MODEL, K_ARENA, K_PATTERN, K_SHRINK, K_THREADS, K_MAX_SIZE = (
    "cfg_model", "cfg_arena", "cfg_pattern", "cfg_shrink", "cfg_threads", "cfg_max_size",
)
DEFAULTS: dict[str, object] = {
    K_MODEL: models.DEFAULT_MODEL,
    K_ARENA: True,
    K_PATTERN: True,
    K_SHRINK: False,
    K_THREADS: 0,
    # The article's cap: a shared server should not decode and composite full-size 80 MP uploads for
    # everyone by default; "no cap" is one click away, at the slider's far end.
    K_MAX_SIZE: 1600,  # 0 = no cap
}
MAX_SIZE_CHOICES = (320, 512, 800, 1024, 1600, 2048, 3000, 4096, 0)  # 0 = no cap, the far end
THREAD_CHOICES = (0, 1, 2, 4)
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tiff", "tif", "gif"]
RSS_REFRESH_SECONDS = 3  # how often the sidebar's server-RSS figure redraws itself


@dataclass(frozen=True)
class Settings:
    config: SessionConfig
    max_size: int | None  # None = no cap


def require_app_frame() -> None:
    """Called first by every page. Streamlit treats a `pages/` folder as its old multipage layout
    until the first st.navigation call, so the very first visit to a fresh server straight at
    /watermark would run that script without app.py's frame (no sidebar; "app" and "common" listed
    as pages). Leave that mode and rerun through app.py, which resolves the same URL itself.
    Only a session app.py has never framed is rerun (AppTest resets that mode before every run).
    (Not done at import time: a rerun raised mid-import breaks other sessions importing this module.)"""
    if PagesManager.uses_pages_directory and K_FRAMED not in st.session_state:
        PagesManager.uses_pages_directory = False
        st.rerun()


def setting(key: str):
    return st.session_state.get(key, DEFAULTS[key])


def settings() -> Settings:
    """The sidebar's choices (or the defaults when a page runs on its own)."""
    config = SessionConfig(
        model=setting(K_MODEL),
        enable_cpu_mem_arena=bool(setting(K_ARENA)),
        enable_mem_pattern=bool(setting(K_PATTERN)),
        arena_shrinkage=bool(setting(K_SHRINK)),
        intra_op_num_threads=int(setting(K_THREADS)),
    )
    return Settings(config, int(setting(K_MAX_SIZE)) or None)


def max_size_label(value: int) -> str:
    return "no cap" if not value else f"{value} px"


def threads_label(value: int) -> str:
    return "auto (one per core)" if not value else str(value)


# --- the one session cache ---------------------------------------------------------------

@st.cache_resource
def idle_policy() -> IdleReleaser:
    """The server's one idle policy over the library's one session cache (rembg_core.session): every
    page and the Benchmark page's quality check get the same session for the same config, and a session
    unused for REMBG_LAB_IDLE_SECONDS is released. Streamlit caches this policy only, never sessions."""
    return IdleReleaser(LIMITS.idle_seconds)


def shared_session(config: SessionConfig) -> ModelSession:
    """The shared session, counted as use (for library calls that take a `get`)."""
    return idle_policy().get(config)


@contextmanager
def lease(config: SessionConfig) -> Iterator[ModelSession]:
    """The shared session for `config`, marked busy while the block runs so it is never released mid-run."""
    with ExitStack() as stack:
        if session.is_cached(config):
            held = stack.enter_context(idle_policy().lease(config))
        else:
            with st.spinner("Loading the model…"):
                held = stack.enter_context(idle_policy().lease(config))
        yield held


def release_sessions() -> memory.TrimReport:
    """Drop every cached session, then gc + malloc_trim; returns RSS before/after."""
    before = memory.rss()
    session.clear()
    report = memory.trim()
    return memory.TrimReport(before, report.rss_after, report.collected, report.malloc_trim)


def release_control(key: str) -> None:
    """A button that releases every session and shows what it gave back."""
    if st.button("Release sessions and trim memory", key=key, width="stretch",
                 help="Clears the shared session cache (every user's), runs gc and glibc malloc_trim."):
        report = release_sessions()
        st.session_state[f"{key}_report"] = report
    report = st.session_state.get(f"{key}_report")
    if report is not None:
        st.caption(
            f"RSS {report.rss_before / memory.MB:.0f} MB → {report.rss_after / memory.MB:.0f} MB "
            f"(freed {report.freed / memory.MB:.0f} MB)"
        )


# --- errors and downloads --------------------------------------------------------------

def show_error(name: str, exc: BaseException) -> None:
    """One line naming the file and the reason; never a traceback for input we refuse on purpose."""
    if isinstance(exc, ImageLoadError):
        st.error(f"**{name}**: {exc}", icon=":material/broken_image:")
    elif isinstance(exc, ModelError):
        st.error(f"**{name}**: the model is unavailable: {exc}", icon=":material/error:")
    else:
        st.error(f"**{name}**: {type(exc).__name__}: {exc}", icon=":material/error:")


def stem(filename: str) -> str:
    return Path(filename).stem or "image"


def _encoder(image: Image.Image, fmt: str, icc: bytes | None = None) -> Callable[[], bytes]:
    # Deferred: a 12 MP lossless WebP takes seconds, so only encode what is actually downloaded.
    return functools.partial(encode, image, fmt, icc)


def download_buttons(image: Image.Image, mask: Image.Image, name: str, key: str,
                     icc: bytes | None = None) -> None:
    """PNG, WebP and mask downloads side by side."""
    base = stem(name)
    c1, c2, c3 = st.columns(3)
    c1.download_button("Download PNG", _encoder(image, "png", icc), f"{base}-cutout.png", "image/png",
                       key=f"{key}_png", on_click="ignore", icon=":material/download:", width="stretch")
    c2.download_button("Download WebP", _encoder(image, "webp", icc), f"{base}-cutout.webp", "image/webp",
                       key=f"{key}_webp", on_click="ignore", icon=":material/download:", width="stretch")
    c3.download_button("Download mask", _encoder(mask, "png"), f"{base}-mask.png", "image/png",
                       key=f"{key}_mask", on_click="ignore", icon=":material/download:", width="stretch")


# --- choosing an image ---------------------------------------------------------------------

@st.cache_data(max_entries=8, show_spinner=False)
def sample_bytes(name: str) -> bytes:
    """A sample encoded as PNG, so samples go through the same decode path as uploads."""
    return encode(samples.available()[name].load(), "png")


@dataclass(frozen=True)
class Picked:
    name: str  # what the user sees: the upload's file name or the sample's name
    ident: str  # stable identity for caching results: the upload's file id or "sample:<name>"
    data: bytes


def pick_image(prefix: str, default_sample: bool = False) -> Picked | None:
    """An uploader beside a sample picker; the upload wins when both are set."""
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    upload = left.file_uploader("Upload an image", type=UPLOAD_TYPES, key=f"{prefix}_upload",
                                help="JPEG, PNG, WebP, BMP, TIFF or GIF (first frame).")
    names = list(samples.available())
    choice = right.selectbox("…or try a sample", names, index=0 if default_sample else None,
                             key=f"{prefix}_sample", placeholder="Pick a sample image")
    if upload is not None:
        return Picked(upload.name, upload.file_id, upload.getvalue())
    if choice is not None:
        return Picked(choice, f"sample:{choice}", sample_bytes(choice))
    return None


def as_file(picked: Picked) -> Path:
    """The image's bytes in a file a child process can read; named by content, so reused, not piled up."""
    digest = hashlib.sha256(picked.data).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / "rembg-lab-inputs" / digest
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(picked.name).name).strip("._")
    path = folder / (safe if Path(safe).suffix else f"{safe or 'image'}.png")
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(picked.data)
        tmp.replace(path)
    return path


def mb(value: float) -> str:
    return f"{value / memory.MB:.0f} MB"
