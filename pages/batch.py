"""Batch page: many images or a zip in, one zip out, with per-image status and RSS over the batch."""

from __future__ import annotations

import contextlib
import functools
import io
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from PIL import Image

from pages import common
from rembg_core import distributed, limits, preview, samples
from rembg_core.batch import (
    BatchLimitError,
    BatchLimits,
    ItemResult,
    RemoveOptions,
    collect,
    fresh_zip_path,
    run_batch,
    zip_writer,
)
from rembg_core.batch.cache import DEFAULT_MAX_BYTES, ResultCache
from rembg_core.dashboard import charts
from rembg_core.distributed import report as ray_report
from rembg_core.errors import ModelError, RembgCoreError
from rembg_core.measure.analysis import rss_drift

LIMITS = BatchLimits(max_items=limits.LIMITS.max_ui_batch_items)
THUMB_SIDE = 160  # px
MAX_THUMBS = 120  # the grid stops here; the zip has everything
OUT_DIR = Path(tempfile.gettempdir()) / "rembg-lab-batch"
CACHE_DIR = Path(tempfile.gettempdir()) / "rembg-lab-cache"
CACHE_BYTES = DEFAULT_MAX_BYTES
STALE_SECONDS = 6 * 3600  # result zips of sessions long gone
WARMUP, MIN_FOR_DRIFT = 5, 10  # items
TABLE_WIDTHS = {"file": 170, "status": 72, "reason": 180, "output": 150, "size": 78, "time (ms)": 72, "RSS (MB)": 70}
DAMAGED = ("damaged.jpg", b"\xff\xd8\xff\xe0 this JPEG stops here")


@dataclass(frozen=True)
class BatchRun:
    rows: list[dict]
    thumbs: list[tuple[str, bytes]]
    rss: list[int]
    statuses: list[str]
    zip_path: Path
    seconds: float
    label: str
    cache_line: str | None
    engine: str = "local"

    @property
    def errors(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "error"]


@st.cache_resource
def shared_cache() -> ResultCache:
    """One result cache for the server: keys include input, options and model, so sharing is safe."""
    return ResultCache(CACHE_DIR, CACHE_BYTES)


def thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        im.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        shown = preview.on_checkerboard(im, cell=8) if im.mode in ("RGBA", "LA") else im.convert("RGB")
    buf = io.BytesIO()
    shown.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def row(r: ItemResult) -> dict:
    return {"#": r.index + 1, "file": r.name, "status": r.status, "reason": r.error or "",
            "output": r.output_name or "", "size": f"{r.size[0]}×{r.size[1]}" if r.size else "",
            "time (ms)": round(r.seconds * 1000), "RSS (MB)": round(r.rss / common.memory.MB, 1)}


def new_zip_path() -> Path:
    previous: BatchRun | None = st.session_state.get("batch_last")
    if previous is not None:
        previous.zip_path.unlink(missing_ok=True)  # one result zip per browser session
    return fresh_zip_path(OUT_DIR, STALE_SECONDS)


def inputs(source: str) -> list[tuple]:
    if source == "Sample set":
        chosen = [(f"{name}.png", functools.partial(common.sample_bytes, name)) for name in samples.available()]
        if st.session_state.get("batch_damaged", True):
            chosen.insert(1, DAMAGED)
        return chosen
    uploads = st.session_state.get("batch_upload") or []
    return [(u.name, u.getvalue) for u in uploads]  # read one at a time, when the batch reaches it


def options() -> tuple[RemoveOptions, bool, bool, str, str]:
    c1, c2, c3, c4, c5 = st.columns(5)
    only_mask = c1.toggle("Only the mask", key="batch_only_mask")
    post = c2.toggle("Post-process mask", key="batch_post")
    crop = c3.toggle("Crop to subject", key="batch_crop")
    fmt = c4.selectbox("Format", ["png", "webp"], key="batch_format")
    use_cache = c5.toggle("Result cache", value=True, key="batch_cache",
                          help="Reuse results for identical input bytes, options and model (sha256 keys, on disk).")
    with st.expander("Engine"):
        pipelined = st.toggle("Overlap decode, inference and encode (threads)", value=False, key="batch_pipelined",
                              help=f"Pipelined keeps up to {LIMITS.max_in_flight} images in memory, serial one. "
                                   "On 2 cores with ONNX Runtime's default thread spinning both are equally fast "
                                   "(docs/BENCHMARKS.md, Batch).")
        engine = st.radio("Engine", ["local", "Ray"], horizontal=True, key="batch_engine",
                          help="Ray: Ray Data actors, one session each (docs/DISTRIBUTED.md); outputs are the "
                               "same bytes as local.")
        address = ""
        if engine == "Ray":
            if not distributed.ray_available():
                st.warning("Ray is not installed on this server: `pip install -e .[ray]`.", icon=":material/warning:")
            address = st.text_input("Ray address", key="batch_ray_address",
                                    placeholder="auto, HOST:PORT or ray://HOST:PORT",
                                    help="Blank: a local cluster on this machine, started for the batch and "
                                         "shut down after.")
    return (RemoveOptions(max_size=common.settings().max_size, only_mask=only_mask, post_process_mask=post,
                          crop=crop, format=fmt), use_cache, pipelined, engine, address.strip())


def run(items: list, opts: RemoveOptions, settings: common.Settings, use_cache: bool,
        pipelined: bool) -> BatchRun | None:
    cache = shared_cache() if use_cache else None
    hits0 = cache.stats.hits if cache else 0
    bar = st.progress(0.0, text=f"0 / {len(items)}")
    live = st.empty()
    rows, thumbs, rss, statuses = [], [], [], []
    zip_path = new_zip_path()
    t0 = last_draw = time.perf_counter()
    with common.lease(settings.config) as session, \
            contextlib.closing(run_batch(items, settings.config, opts, cache=cache, limits=LIMITS,
                                         pipelined=pipelined, session=session)) as results, \
            zip_writer(zip_path) as add:
        for r in results:
            if r.ok:
                add(r.output_name, r.data)
                if len(thumbs) < MAX_THUMBS:
                    thumbs.append((r.output_name, thumbnail(r.data)))
            rows.append(row(r))
            rss.append(r.rss)
            statuses.append("error" if not r.ok else "cached" if r.cached else "ok")
            del r
            bar.progress(len(rows) / len(items), text=f"{len(rows)} / {len(items)} — {rows[-1]['file']}")
            if time.perf_counter() - last_draw > 1.0:
                live.dataframe(rows[-8:], hide_index=True)
                last_draw = time.perf_counter()
    live.empty()
    bar.empty()
    cache_line = None
    if cache is not None:
        s = cache.stats
        cache_line = (f"Result cache: {s.hits - hits0} hits in this batch; {len(cache)} entries, "
                      f"{cache.size_bytes() / common.memory.MB:.0f} MB of {CACHE_BYTES // common.memory.MB} MB")
    return BatchRun(rows, thumbs, rss, statuses, zip_path, time.perf_counter() - t0, settings.config.label(),
                    cache_line)


def batch_label(items: list) -> str:
    """Counts what will be processed: a zip of ten images is ten, and what will be refused is said."""
    refused = sum(1 for i in items if i.refused)
    n = len(items) - refused
    text = f"Remove backgrounds of {n} image{'s' if n != 1 else ''}"
    return text + (f" ({refused} other file{'s' if refused != 1 else ''} will be refused)" if refused else "")


def run_ray(entries: list[tuple], opts: RemoveOptions, settings: common.Settings, use_cache: bool,
            address: str) -> BatchRun | None:
    """The same batch on Ray Data actors (rembg_core.distributed); the same table and zip."""
    try:
        sources = distributed.expand(entries, LIMITS)
    except BatchLimitError as exc:
        st.error(f"**{len(entries)} files**: {exc}", icon=":material/error:")
        return None
    if not sources:
        st.warning("No images found in what was uploaded (zips: only image files are read).")
        return None
    bar = st.progress(0.0, text=f"Starting Ray… 0 / {len(sources)}")
    rows, rss, statuses = [], [], []

    def on_row(r: distributed.ManifestRow, fresh: bool) -> None:
        rows.append(ray_report.status_row(r, fresh))
        rss.append(r.peak_rss)
        statuses.append({"cache hit": "cached"}.get(rows[-1]["status"], rows[-1]["status"]))
        bar.progress(len(rows) / len(sources), text=f"{len(rows)} / {len(sources)} — {r.input}")

    job_dir = Path(tempfile.mkdtemp(prefix="rembg-lab-ray-"))
    try:
        spec = distributed.JobSpec(out=job_dir, config=settings.config, options=opts, limits=LIMITS,
                                   address=address or None, cache_dir=str(CACHE_DIR) if use_cache else None,
                                   progress_bars=False)
        summary = distributed.run_job(sources, spec, on_row)
        zip_path, thumbs = new_zip_path(), []
        with zip_writer(zip_path) as add:
            for name, data in ray_report.outputs(summary.rows, job_dir):
                add(name, data)
                if len(thumbs) < MAX_THUMBS:
                    thumbs.append((name, thumbnail(data)))
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
        bar.empty()
    p = summary.plan
    label = (f"{settings.config.label()} on Ray: {p.actors} actors × {p.threads} threads, "
             f"{summary.cluster.nodes} node(s)")
    return BatchRun(rows, thumbs, rss, statuses, zip_path, summary.seconds, label,
                    "Result cache on (shared with local runs)." if use_cache else None, engine="Ray")


def show(b: BatchRun) -> None:
    n = len(b.rows)
    ok = sum(s != "error" for s in b.statuses)
    # with mem pattern on, ORT allocates its plan on the 2nd run: growth before WARMUP is expected
    drift = rss_drift(b.rss, warmup=WARMUP, window=min(10, (n - WARMUP) // 2)) if n >= WARMUP + MIN_FOR_DRIFT else None
    m = st.columns(5)
    m[0].metric("Images out", f"{ok} / {n}")
    m[1].metric("Refused", len(b.errors))
    m[2].metric("From the cache", b.statuses.count("cached"))
    # short labels and values: five metrics share ~820 px at 1280×800
    m[3].metric("Images / second", f"{n / b.seconds:.2f}" if b.seconds else "–", f"{b.seconds:.1f} s in all",
                delta_color="off")
    m[4].metric("RSS drift", "–" if drift is None else f"{100 * drift:+.1f} %",
                help="After warm-up: median RSS of the last items over the median of the first items, minus 1. "
                     f"Near zero: nothing piles up per image. Needs {WARMUP + MIN_FOR_DRIFT} images or more.")
    if b.errors:
        st.error("\n".join(f"- **{e['file']}**: {e['reason']}" for e in b.errors[:20])
                 + (f"\n- … and {len(b.errors) - 20} more (see the table)" if len(b.errors) > 20 else ""),
                 icon=":material/broken_image:")
    if b.zip_path.exists() and ok:
        st.download_button("Download all results (zip)", functools.partial(b.zip_path.read_bytes),
                           "rembg-lab-batch.zip", "application/zip", key="batch_zip", on_click="ignore",
                           icon=":material/download:", type="primary")
    rss_note = ("RSS is the peak of the Ray actor that ran each item." if b.engine == "Ray" else
                "RSS is this whole server process (shared with other users), after each item.")
    st.caption(f"{b.label}. {rss_note} " + (b.cache_line or "Result cache off."))
    st.plotly_chart(charts.batch_rss(b.rss, b.statuses, warmup=min(WARMUP, n), drift=drift), key="batch_rss_chart")
    # full width, with widths that add up to the main column at 1280 px: no column hides off to the right
    st.dataframe(b.rows, hide_index=True, height=min(380, 36 + 35 * n), width="stretch",
                 column_order=list(TABLE_WIDTHS), column_config={
                     k: st.column_config.TextColumn(width=w) if k in ("file", "reason", "output", "status", "size")
                     else st.column_config.NumberColumn(width=w) for k, w in TABLE_WIDTHS.items()})
    if b.thumbs:
        st.subheader("Results")
        cols = st.columns(6)
        for i, (name, data) in enumerate(b.thumbs):
            cols[i % 6].image(data, caption=name, width="stretch")
        if ok > len(b.thumbs):
            st.caption(f"The first {len(b.thumbs)} of {ok} shown; the zip has them all.")


common.require_app_frame()
st.title("Batch")
st.caption("Many images or a zip in, one zip out. Images are decoded, cut out and encoded a few at a time, "
           "so memory stays flat however long the batch.")
settings = common.settings()
source = st.radio("Images from", ["Upload", "Sample set"], horizontal=True, key="batch_source")
if source == "Upload":
    st.file_uploader("Images or zip archives", type=common.UPLOAD_TYPES + ["zip"], accept_multiple_files=True,
                     key="batch_upload", help=f"Up to {LIMITS.max_items} images. In a zip, folders are walked; "
                     "nested archives, unsafe paths and dotfiles are refused or skipped.")
else:
    st.toggle("Add a damaged file, to see how a refusal looks", value=True, key="batch_damaged")
opts, use_cache, pipelined, engine, address = options()
entries = inputs(source)
if not entries:
    st.info("Upload images or a zip (or pick the sample set) to run a batch.", icon=":material/upload:")
    st.stop()

try:
    items = collect(entries, LIMITS)  # zips are listed, not unpacked: cheap, and the button counts their members
except BatchLimitError as exc:
    st.error(f"**{len(entries)} files**: {exc}", icon=":material/error:")
    st.stop()
if not items:
    st.warning("No images found in what was uploaded (zips: only image files are read).")
    st.stop()
if st.button(batch_label(items), type="primary", key="batch_run", icon=":material/play_arrow:"):
    try:
        if engine == "Ray":
            done = run_ray(entries, opts, settings, use_cache, address)
        else:
            done = run(items, opts, settings, use_cache, pipelined)
    except ModelError as exc:
        common.show_error(settings.config.model, exc)
        st.stop()
    except RembgCoreError as exc:  # Ray missing, the cluster unreachable, actors that could not start
        common.show_error(address or "Ray", exc)
        st.stop()
    if done is not None:
        st.session_state["batch_last"] = done
last: BatchRun | None = st.session_state.get("batch_last")
if last is not None:
    show(last)
