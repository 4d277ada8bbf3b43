"""Shared UI helpers for every page: settings, the cached session, errors, downloads.

Pages import this as `from pages.common import ...` (app.py's folder is on sys.path under
`streamlit run` and in tests). The settings live in st.session_state under the SIDEBAR_KEYS;
app.py draws the widgets, and a page run on its own gets the defaults.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas  # noqa: F401 — see below
import plotly.graph_objects  # noqa: F401
import streamlit as st

from rembg_core import memory, models, preview, samples, session
from rembg_core.errors import ImageLoadError, ModelError
from rembg_core.idle import IdleReleaser
from rembg_core.imageio import encode, load_image
from rembg_core.limits import LIMITS
from rembg_core.measure import layers, runner
from rembg_core.measure.holdings import HOLDINGS
from rembg_core.session import ModelSession, SessionConfig

# pandas and plotly are imported here, once, when the first session loads this module. Streamlit and
# plotly otherwise import pandas lazily inside st.plotly_chart/st.dataframe, and several sessions doing
# that first import at the same moment race: "partially initialized module 'pandas' has no attribute
# 'Series'" (seen with four simultaneous users in tests/test_multiuser.py).

K_FRAMED = "app_framed"  # set by app.py on every run
K_REFRAMED = "_app_reframed"  # a page asked once to be run through app.py
K_VISITOR = "_visitor"  # this browser session's id (the Serving Lab names its owner by it)
ROOT = Path(__file__).resolve().parents[1]
PAGES = (("remove.py", "Remove background", ":material/content_cut:"),
         ("batch.py", "Batch", ":material/burst_mode:"),
         ("watermark.py", "Watermark", ":material/branding_watermark:"),
         ("memory_lab.py", "Memory Lab", ":material/memory:"),
         ("benchmark.py", "Benchmark", ":material/speed:"),
         ("serving_lab.py", "Serving Lab", ":material/dns:"),
         ("edges.py", "Edges", ":material/blur_on:"))

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
RSS_REFRESH_SECONDS = 3  # how often the sidebar's server-RSS figure redraws itself
TRACE_PYTHON = os.environ.get("REMBG_LAB_TRACE_PYTHON", "1") != "0"  # tracemalloc for the Python-heap layer
# Uploads a session keeps across page switches (Streamlit holds them in the server's memory).
KEEP_UPLOADS_MB = 200


@dataclass(frozen=True)
class Settings:
    config: SessionConfig
    max_size: int | None  # None = no cap


def pages() -> list[st.Page]:
    """The app's pages. Absolute paths: the same list resolves from app.py and from a page run alone."""
    return [st.Page(ROOT / "pages" / file, title=title, icon=icon, default=file == "remove.py")
            for file, title, icon in PAGES]


def require_app_frame() -> None:
    """Called first by every page. Until some session calls st.navigation, Streamlit treats a `pages/`
    folder as its old multipage layout, so the very first visit to a fresh server straight at
    /watermark runs that script without app.py's frame. Calling st.navigation ends that mode for
    every session (Streamlit documents it); the rerun then goes through app.py, which resolves the
    same URL itself. config.toml's client.showSidebarNavigation = false keeps the old mode's page
    list ("app, batch, common, …") from being drawn meanwhile. A page run on its own (AppTest) is
    let through after one such rerun."""
    if K_FRAMED not in st.session_state and not st.session_state.get(K_REFRAMED):
        st.session_state[K_REFRAMED] = True
        st.navigation(pages(), position="hidden")
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
    HOLDINGS.note_visit(config, visitor())
    with ExitStack() as stack:
        if session.is_cached(config):
            held = stack.enter_context(idle_policy().lease(config))
        else:
            with st.spinner("Loading the model…"):
                held = stack.enter_context(idle_policy().lease(config))
        yield held


def media_storage() -> tuple[int | None, str]:
    """Streamlit's in-memory media storage, in bytes, from the server's own /_stcore/metrics endpoint
    (read over loopback from this process); (None, why) when it cannot be read."""
    port = st.get_option("server.port")
    url = f"http://127.0.0.1:{port}/_stcore/metrics"
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            text = r.read().decode("utf-8", "replace")
    except OSError as exc:
        return None, f"not measured: {url.split('/_stcore')[0]}/_stcore/metrics did not answer ({exc})"
    # no line for it means no media file is stored right now
    return layers.media_bytes(text) or 0, ('Streamlit\'s /_stcore/metrics: cache_memory_bytes{cache_type='
                                           '"st_memory_media_file_storage"} (uploads shown back, images, downloads)')


def server_split() -> layers.LayerSplit:
    """The dashboard server's RSS, layer by layer, with the arenas measured so far for the held sessions."""
    media, how = media_storage()
    return layers.split("the dashboard server (every visitor)", HOLDINGS.held(), media, how)


def release_sessions() -> layers.Released:
    """Drop every cached session, then gc + malloc_trim; the layer split before and after."""
    before = server_split()
    session.clear()
    memory.trim()
    return layers.Released(before, server_split())


def release_control(key: str) -> None:
    """A button that releases every session and shows what it gave back, per layer, and what stays."""
    if st.button("Release sessions and trim memory", key=key, width="stretch",
                 help="Clears the shared session cache (every user's), runs gc and glibc malloc_trim."):
        st.session_state[f"{key}_report"] = release_sessions()
    shown: layers.Released | None = st.session_state.get(f"{key}_report")
    if shown is not None:
        gave = [f"{r['layer']} {r['given back MB']:+.0f}" for r in shown.rows()
                if r["given back MB"] is not None and abs(r["given back MB"]) >= 1]
        st.caption(f"RSS {shown.before.rss / memory.MB:.0f} MB → {shown.after.rss / memory.MB:.0f} MB "
                   f"(freed {shown.freed / memory.MB:.0f} MB" + (f": {', '.join(gave)} MB" if gave else "") + "). "
                   f"Stays: code and mapped files {(shown.after.get('code and mapped files') or 0) / memory.MB:.0f} MB "
                   "(the Python runtime, ONNX Runtime and the other libraries).")


# --- keeping a page's work while the visitor is elsewhere ---------------------------------------

def kept(key: str) -> dict[str, Any]:
    """Keyword arguments that keep a widget's value for the whole browser session, so it is still set
    when the visitor comes back from another page (Streamlit otherwise drops the state of a widget
    that a run does not draw). Streamlit 1.67's persist_state="session"; file uploaders have no such
    option, so `uploads` keeps their files itself."""
    return {"key": key, "persist_state": "session"}


def visitor() -> str:
    """A random id for this browser session (Streamlit's own session id is not public API)."""
    return st.session_state.setdefault(K_VISITOR, uuid.uuid4().hex[:8])


@dataclass(frozen=True)
class Upload:
    name: str
    ident: str  # Streamlit's file id: a new upload of the same name is a new file
    size: int
    file: Any = field(repr=False, compare=False)  # the UploadedFile: its bytes, held once (no copy)

    @property
    def data(self) -> bytes:
        return self.file.getvalue()


def _remember(key: str) -> None:
    """on_change of an uploader: keep what it holds now (an empty uploader means the visitor cleared it)."""
    value = st.session_state.get(key)
    files = value if isinstance(value, list) else [] if value is None else [value]
    st.session_state[f"_{key}_kept"] = [Upload(f.name, f.file_id, f.size, f) for f in files]


def uploads(label: str, key: str, *, multiple: bool = False, help: str | None = None,
            types: list[str] | None = None, container: Any = None) -> list[Upload]:
    """An uploader whose files stay with the visitor's session while they visit other pages, up to
    KEEP_UPLOADS_MB in all; bigger uploads are used here and said to be dropped on leaving.
    No type filter by default: a file of any kind is accepted and the loader refuses it with a reason
    (a filter would refuse it silently, with a tooltip)."""
    where = container or st
    where.file_uploader(label, type=types, key=key, accept_multiple_files=multiple, help=help,
                        on_change=_remember, args=(key,))
    files: list[Upload] = st.session_state.get(f"_{key}_kept", [])
    if not files:
        return []
    total = sum(f.size for f in files)
    if total > KEEP_UPLOADS_MB * 1024 * 1024 and not st.session_state.get(key):
        # back from another page with more than a session keeps: let them go, and say so
        st.session_state.pop(f"_{key}_kept", None)
        where.warning(f"{len(files)} upload(s), {total / 1e6:.0f} MB, were more than a session keeps across "
                      f"pages ({KEEP_UPLOADS_MB} MB) and were dropped: upload them again.",
                      icon=":material/delete_sweep:")
        return []
    if not st.session_state.get(key):  # the widget is fresh (another page was visited): say what is kept
        names = ", ".join(f.name for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        where.caption(f"Kept from before: **{names}** ({total / 1e6:.1f} MB). Upload again to replace, "
                      "or clear it below.")
        if where.button("Clear kept upload", key=f"_{key}_forget", icon=":material/close:"):
            st.session_state.pop(f"_{key}_kept", None)
            st.rerun()
    elif total > KEEP_UPLOADS_MB * 1024 * 1024:
        where.caption(f"These uploads ({total / 1e6:.0f} MB) are more than a session keeps across pages "
                      f"({KEEP_UPLOADS_MB} MB): they will be dropped if you leave this page.")
    return files


# --- refusals and errors ------------------------------------------------------------------------

def refusal(exc: BaseException) -> str:
    """Why a file (or a run on it) was refused, in one line."""
    if isinstance(exc, ModelError):
        return f"the model is unavailable: {exc}"
    if isinstance(exc, (ImageLoadError, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def refuse(name: str, reason: str) -> None:
    """The one visible line every refused file gets: `name: reason`."""
    st.error(f"**{name}**: {reason}", icon=":material/broken_image:")


def show_error(name: str, exc: BaseException) -> None:
    """One line naming the file and the reason; never a traceback for input we refuse on purpose."""
    refuse(name, refusal(exc))


def valid_image(picked: Picked) -> bool:
    """Decode a small version of the image here; a file that is not one is refused with `name: reason`
    before any measuring process starts (True when it is an image)."""
    try:
        load_image(picked.data, max_size=64)
    except ImageLoadError as exc:
        refuse(picked.name, str(exc))
        return False
    return True


def stem(filename: str) -> str:
    return Path(filename).stem or "image"


def thumb(data: bytes, side: int) -> bytes:
    """A thumbnail that fills a fixed side×side box whatever the image's shape (one helper for every page)."""
    return preview.boxed_thumbnail(data, side)


# --- models -------------------------------------------------------------------------------------

@st.cache_data(ttl=600, show_spinner=False)
def model_states() -> dict[str, models.Availability]:
    """Which models are on disk, can be fetched or built, or cannot be reached from here (probed
    with short connects, remembered for ten minutes)."""
    return {name: models.availability(name) for name in models.REGISTRY}


def model_label(name: str) -> str:
    spec, state = models.REGISTRY[name], model_states()[name]
    return f"{name} · {spec.size_mb:g} MB · {spec.input_size} px · {state.state}"


def ensure_model(name: str) -> bool:
    """The model ready to use, fetched (or built) with a progress bar when missing; False, with the
    reason and a retry button, when that failed. Called only where the model is needed: a page that
    does not run it (Watermark with a colour key, Serving Lab) works without it."""
    if models.is_available(name):
        return True
    failed = st.session_state.get(f"_fetch_failed_{name}")
    if failed:
        st.error(f"**{name}**: {failed}", icon=":material/cloud_off:")
        st.caption(f"{models.DEFAULT_MODEL} (the default) comes with `make run`: pick it in the sidebar, "
                   f"or retry once {name}'s source is reachable.")
        if not st.button(f"Retry fetching {name}", key=f"_retry_{name}"):
            return False
        st.session_state.pop(f"_fetch_failed_{name}", None)
    bar = st.progress(0.0, text=f"Fetching model {name}…")

    def progress(message: str, done: int, total: int | None) -> None:
        bar.progress(min(1.0, done / total) if total else 0.0, text=message)

    try:
        models.fetch(name, progress, timeout=20)  # a blocked network should not hang the page for minutes
    except ModelError as exc:
        bar.empty()
        st.session_state[f"_fetch_failed_{name}"] = str(exc)
        model_states.clear()
        st.error(f"**{name}**: {exc}", icon=":material/cloud_off:")
        return False
    bar.empty()
    model_states.clear()
    return True


# --- long jobs: a Stop button, and what a stopped job finished --------------------------------------

@dataclass
class Job:
    """A long job's progress, kept in the session: a job that ends normally removes it, so one still
    there on the next run was stopped (by its Stop button, or any other click on the page)."""

    what: str
    total: int = 0
    done: int = 0
    last: str = ""
    started: float = field(default_factory=time.monotonic)

    def step(self, done: int, total: int, last: str = "") -> None:
        self.done, self.total, self.last = done, total, last


@contextmanager
def stoppable(key: str, what: str) -> Iterator[Job]:
    """Runs a job with a Stop button above it. Pressing Stop reruns the page; Streamlit interrupts this
    run at its next drawing call, and the job's own cleanup (child processes killed, threads ended)
    runs as the interruption unwinds. `tick` callbacks (runner.ticking) make sure drawing calls keep
    coming while a child runs."""
    slot = st.empty()
    slot.button(f"Stop {what}", key=f"_{key}_stop", icon=":material/stop_circle:")
    job = Job(what)
    st.session_state[f"_{key}_job"] = job
    elapsed = st.empty()

    def tick() -> None:
        elapsed.caption(f"{what}: {time.monotonic() - job.started:.0f} s")

    with runner.ticking(tick):
        yield job
    st.session_state.pop(f"_{key}_job", None)
    slot.empty()
    elapsed.empty()


def stopped_notice(key: str) -> Job | None:
    """Says what a stopped job finished (once), and returns it."""
    job: Job | None = st.session_state.pop(f"_{key}_job", None)
    if job is not None:
        done = f"{job.done} of {job.total}" if job.total else "none"
        st.warning(f"Stopped: {job.what} finished {done} step(s)" + (f" (last: {job.last})" if job.last else "")
                   + ". Its child processes were ended; nothing else was kept.", icon=":material/stop_circle:")
    return job


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
    files = uploads("Upload an image", f"{prefix}_upload", container=left,
                    help="JPEG, PNG, WebP, BMP, TIFF, GIF (first frame), AVIF, TGA, PPM or ICO. "
                         "Any other file is refused with its reason.")
    names = list(samples.available())
    choice = right.selectbox("…or try a sample", names, index=0 if default_sample else None,
                             placeholder="Pick a sample image", **kept(f"{prefix}_sample"))
    if files:
        return Picked(files[0].name, files[0].ident, files[0].data)
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
