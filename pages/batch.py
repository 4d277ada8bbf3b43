"""Batch page: many images or a zip in, one zip out, with per-image status and RSS over the batch."""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import streamlit as st

from pages import common
from rembg_core import distributed, limits, samples
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
from rembg_core.dashboard.glossary import BATCH_HELP
from rembg_core.dashboard.tables import batch_row
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


def forget_last() -> None:
    """One result zip per browser session: a new batch lets the old table and zip go."""
    previous: BatchRun | None = st.session_state.pop("batch_last", None)
    if previous is not None:
        previous.zip_path.unlink(missing_ok=True)


def inputs(source: str, uploaded: list[common.Upload], damaged: bool) -> list[tuple]:
    if source == "Sample set":
        chosen: list[tuple[str, bytes | Callable[[], bytes]]] = [
            (f"{name}.png", functools.partial(common.sample_bytes, name)) for name in samples.available()]
        if damaged:
            chosen.insert(1, DAMAGED)
        return chosen
    return [(u.name, u.file.getvalue) for u in uploaded]  # read one at a time, when the batch reaches it


def options() -> tuple[RemoveOptions, bool, bool, str, str]:
    c1, c2, c3, c4, c5 = st.columns(5)
    only_mask = c1.toggle("Only the mask", **common.kept("batch_only_mask"))
    post = c2.toggle("Post-process mask", **common.kept("batch_post"))
    crop = c3.toggle("Crop to subject", **common.kept("batch_crop"))
    fmt = c4.selectbox("Format", ["png", "webp"], **common.kept("batch_format"))
    use_cache = c5.toggle("Result cache", value=True, help=BATCH_HELP["cache"], **common.kept("batch_cache"))
    with st.expander("Engine"):
        pipelined = st.toggle("Overlap decode, inference and encode (threads)", value=False,
                              help=BATCH_HELP["pipelined"].format(n=LIMITS.max_in_flight),
                              **common.kept("batch_pipelined"))
        engine = st.radio("Engine", ["local", "Ray"], horizontal=True, help=BATCH_HELP["engine"],
                          **common.kept("batch_engine"))
        address = ""
        if engine == "Ray":
            if not distributed.ray_available():
                st.warning("Ray is not installed on this server: `pip install -e .[ray]`.", icon=":material/warning:")
            address = st.text_input("Ray address", placeholder="auto, HOST:PORT or ray://HOST:PORT",
                                    help=BATCH_HELP["address"], **common.kept("batch_ray_address"))
    return (RemoveOptions(max_size=common.settings().max_size, only_mask=only_mask, post_process_mask=post,
                          crop=crop, format=fmt), use_cache, pipelined, engine, address.strip())


class Collector:
    """The one place a batch's results land, whichever engine made them: the table rows, RSS, the
    zip (written as results arrive) and the thumbnails; the progress bar and the Stop job follow it."""

    def __init__(self, total: int, job: common.Job) -> None:
        self.total, self.job = total, job
        self.rows: list[dict] = []
        self.rss: list[int] = []
        self.statuses: list[str] = []
        self.thumbs: list[tuple[str, bytes]] = []
        self.bar = st.progress(0.0, text=f"0 / {total}")
        self.zip_path = fresh_zip_path(OUT_DIR, STALE_SECONDS)
        self.t0 = time.perf_counter()

    def add(self, row: dict, rss: int, status: str) -> None:
        self.rows.append(row)
        self.rss.append(rss)
        self.statuses.append(status)
        self.job.step(len(self.rows), self.total, row["file"])
        self.bar.progress(len(self.rows) / max(1, self.total), text=f"{len(self.rows)} / {self.total} — {row['file']}")

    def output(self, add: Callable[[str, bytes], None], name: str, data: bytes) -> None:
        add(name, data)
        if len(self.thumbs) < MAX_THUMBS:
            self.thumbs.append((name, common.thumb(data, THUMB_SIDE)))

    def done(self, label: str, cache_line: str | None, engine: str, seconds: float | None = None) -> BatchRun:
        self.bar.empty()
        return BatchRun(self.rows, self.thumbs, self.rss, self.statuses, self.zip_path,
                        time.perf_counter() - self.t0 if seconds is None else seconds, label, cache_line, engine)


def run_local(items: list, opts: RemoveOptions, settings: common.Settings, use_cache: bool, pipelined: bool,
              job: common.Job) -> BatchRun:
    cache = shared_cache() if use_cache else None
    hits0 = cache.stats.hits if cache else 0
    out = Collector(len(items), job)
    with common.lease(settings.config) as session, \
            contextlib.closing(cast(Generator[ItemResult, None, None], run_batch(
                items, settings.config, opts, cache=cache, limits=LIMITS, pipelined=pipelined,
                session=session))) as results, \
            zip_writer(out.zip_path) as add:
        for r in results:
            if r.ok and r.output_name is not None and r.data is not None:
                out.output(add, r.output_name, r.data)
            out.add(batch_row(r), r.rss, "error" if not r.ok else "cached" if r.cached else "ok")
            del r
    cache_line = None
    if cache is not None:
        s = cache.stats
        cache_line = (f"Result cache: {s.hits - hits0} hits in this batch; {len(cache)} entries, "
                      f"{cache.size_bytes() / common.memory.MB:.0f} MB of {CACHE_BYTES // common.memory.MB} MB")
    return out.done(settings.config.label(), cache_line, "local")


def run_ray(entries: list[tuple], opts: RemoveOptions, settings: common.Settings, use_cache: bool,
            address: str, job: common.Job) -> BatchRun:
    """The same batch on Ray Data actors (rembg_core.distributed); the same table and zip."""
    sources = distributed.expand(entries, LIMITS)
    out = Collector(len(sources), job)

    def on_row(r: distributed.ManifestRow, fresh: bool) -> None:
        shown = ray_report.status_row(r, fresh)
        out.add(shown, r.peak_rss, {"cache hit": "cached"}.get(shown["status"], shown["status"]))

    job_dir = Path(tempfile.mkdtemp(prefix="rembg-lab-ray-"))
    try:
        spec = distributed.JobSpec(out=job_dir, config=settings.config, options=opts, limits=LIMITS,
                                   address=address or None, cache_dir=str(CACHE_DIR) if use_cache else None,
                                   progress_bars=False)
        summary = distributed.run_job(sources, spec, on_row)
        with zip_writer(out.zip_path) as add:
            for name, data in ray_report.outputs(summary.rows, job_dir):
                out.output(add, name, data)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    p = summary.plan
    label = (f"{settings.config.label()} on Ray: {p.actors} actors × {p.threads} threads, "
             f"{summary.cluster.nodes} node(s)")
    return out.done(label, "Result cache on (shared with local runs)." if use_cache else None, "Ray", summary.seconds)


def batch_label(items: list) -> str:
    """Counts what will be processed: a zip of ten images is ten, and what will be refused is said."""
    refused = sum(1 for i in items if i.refused)
    n = len(items) - refused
    text = f"Remove backgrounds of {n} file{'s' if n != 1 else ''}"
    return text + (f" ({refused} other file{'s' if refused != 1 else ''} will be refused)" if refused else "")


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
            cols[i % 6].image(data, caption=name, width="stretch")  # square boxes: one size in every column
        if ok > len(b.thumbs):
            st.caption(f"The first {len(b.thumbs)} of {ok} shown; the zip has them all.")


common.require_app_frame()
st.title("Batch")
st.caption("Many images or a zip in, one zip out. Images are decoded, cut out and encoded a few at a time, "
           "so memory stays flat however long the batch.")
settings = common.settings()
source = st.radio("Images from", ["Upload", "Sample set"], horizontal=True, **common.kept("batch_source"))
uploaded: list[common.Upload] = []
damaged = False
if source == "Upload":
    uploaded = common.uploads("Images or zip archives", "batch_upload", multiple=True,
                              help=BATCH_HELP["upload"].format(n=LIMITS.max_items))
else:
    damaged = st.toggle("Add a damaged file, to see how a refusal looks", value=True,
                        **common.kept("batch_damaged"))
opts, use_cache, pipelined, engine, address = options()
entries = inputs(source, uploaded, damaged)
common.stopped_notice("batch")
items: list = []
if not entries:
    st.info("Upload images or a zip (or pick the sample set) to run a batch.", icon=":material/upload:")
else:
    try:
        items = collect(entries, LIMITS)  # zips are listed, not unpacked: cheap, and the button counts their members
    except BatchLimitError as exc:
        common.refuse(f"{len(entries)} files", str(exc))
    if entries and not items:
        st.warning("No images found in what was uploaded (zips: only image files are read).")
if items and st.button(batch_label(items), type="primary", key="batch_run", icon=":material/play_arrow:"):
    forget_last()
    try:
        if common.ensure_model(settings.config.model):
            with common.stoppable("batch", "the batch") as job:
                if engine == "Ray":
                    done = run_ray(entries, opts, settings, use_cache, address, job)
                else:
                    done = run_local(items, opts, settings, use_cache, pipelined, job)
            st.session_state["batch_last"] = done
    except BatchLimitError as exc:
        common.refuse(f"{len(entries)} files", str(exc))
    except ModelError as exc:
        common.show_error(settings.config.model, exc)
    except RembgCoreError as exc:  # Ray missing, the cluster unreachable, actors that could not start
        common.show_error(address or "Ray", exc)
last: BatchRun | None = st.session_state.get("batch_last")
if last is not None:
    show(last)
