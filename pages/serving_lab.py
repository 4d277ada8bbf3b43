"""Serving Lab: start the real HTTP service (gunicorn workers), load it, watch every process's memory."""

from __future__ import annotations

import time
from datetime import datetime

import streamlit as st

from pages import common
from rembg_core import allocator, samples
from rembg_core.dashboard import load_charts
from rembg_core.dashboard.glossary import SERVING_HELP, STATUS_HELP
from rembg_core.dashboard.serving import (
    ABANDONED_AFTER,
    LabRecord,
    LabServer,
    NotOwnerError,
    ServingLab,
    preload_verdict,
)
from rembg_core.dashboard.tables import serving_row
from rembg_core.server.config import ServerConfig
from rembg_core.server.launcher import GunicornSettings

POLL = 0.5  # s between live redraws while a load runs
# what fits the main column at 1280 px; the server's full label is in the run's heading
# "per worker" (requests each worker served, by pid) replaces "end PSS MB": the comparison needs it
HISTORY_WIDTHS = {"run": 36, "workers": 52, "preload": 52, "K/Q": 44, "clients": 52, "requests": 62,
                  "per worker": 96, "ok/s": 50, "p50 s": 52, "p95 s": 52, "p99 s": 52, "status": 100,
                  "peak PSS MB": 70}


@st.cache_resource
def lab() -> ServingLab:
    """One lab per dashboard process: one server at a time, stopped when the dashboard exits."""
    return ServingLab()


def server_section(engine: ServingLab, me: str, base: common.Settings) -> None:
    mine = engine.running and engine.owner == me
    theirs = engine.running and not mine
    if theirs:
        age = (time.time() - engine.started_at) / 60
        since = datetime.fromtimestamp(engine.started_at).strftime("%H:%M")
        st.warning(f"**This server belongs to another visitor** (session `{engine.owner}`, started at {since}, "
                   f"{age:.0f} min ago): {engine.spec.label() if engine.spec else ''}. Only they can stop it, replace "
                   f"it or load it, and its runs are theirs. If they do not come back to this page for "
                   f"{ABANDONED_AFTER / 60:.0f} minutes, anyone may. You are `{me}`.", icon=":material/lock:")
    service = ServerConfig()  # the service's own defaults
    start = False
    if not theirs or engine.may_control(me):  # a visitor who may not start one sees no form of their own
        with st.form("sl_server"):
            c1, c2, c3, c4 = st.columns(4)
            workers = c1.number_input("Workers", 1, 4, 2, **common.kept("sl_workers"))
            preload = c2.toggle("--preload", True, help=SERVING_HELP["preload"], **common.kept("sl_preload"))
            k = c3.number_input("C: runs in the model per worker", 0, 4, service.max_inflight,
                                help="The run gate. 0: one run, with the worker's share of the cores as its threads.",
                                **common.kept("sl_k"))
            q = c4.number_input("Q: waiting per worker", 0, 64, service.max_queue, help=SERVING_HELP["q"],
                                **common.kept("sl_q"))
            c5, c6, c7, c8 = st.columns(4)
            max_size = c5.select_slider("max_size", [320, 640, 1024, 1600, 2048, 4096], service.max_size,
                                        **common.kept("sl_max_size"))
            idle = c6.number_input("idle seconds", 5, 600, int(service.idle_seconds), help=SERVING_HELP["idle"],
                                   **common.kept("sl_idle"))
            usable = [name for name, ok in allocator.available().items() if ok]
            malloc = c7.selectbox("Allocator", usable, help="glibc (mmap threshold 128 KB), or jemalloc/mimalloc "
                                  "preloaded into every server process (LD_PRELOAD).", **common.kept("sl_allocator"))
            c8.caption(f"Session flags from the sidebar: {base.config.label()}")
            start = st.form_submit_button("Restart server with these" if mine else "Start server", type="primary")
        if start:
            spec = LabServer(ServerConfig(session=base.config, max_size=int(max_size), max_inflight=int(k),
                                          max_queue=int(q), idle_seconds=float(idle),
                                          allocator=service.allocator if malloc == "glibc"
                                          else allocator.AllocatorChoice(malloc)),
                             GunicornSettings(workers=int(workers), preload=bool(preload)))
            with st.spinner("Starting the server (the workers load the model)…"):
                try:
                    engine.start(spec, visitor=me)
                except NotOwnerError as exc:
                    st.error(f"server: {exc}")
                except RuntimeError as exc:
                    st.error(f"server: {str(exc).splitlines()[0]}")
    if engine.running and engine.server is not None and engine.spec is not None:
        ready = engine.ready()
        left, right = st.columns([4, 1])
        owner = "yours" if engine.owner == me else f"owner `{engine.owner}`"
        left.success(f"Running on {engine.server.url} ({owner}) — {engine.spec.label()} — master pid "
                     f"{engine.server.pid}, workers {', '.join(map(str, engine.server.workers()))} — "
                     f"ready: {ready.get('ready')}")
        if engine.may_control(me) and right.button("Stop server", key="sl_stop"):
            engine.stop(visitor=me)
            st.rerun()
    else:
        st.info("No server running. Pick the settings above and press **Start server**.")


def load_section(engine: ServingLab, me: str) -> None:
    st.subheader("Load")
    allowed = engine.running and engine.may_control(me)
    own = common.uploads("Your own photos for the load (optional, sent with the samples below)", "sl_upload",
                         multiple=True)
    with st.form("sl_load"):
        c1, c2, c3, c4 = st.columns([1, 1, 1, 3])
        clients = c1.number_input("Concurrent clients", 1, 64, 4, **common.kept("sl_clients"))
        until = c2.radio("Stop after", ["requests", "seconds"], **common.kept("sl_until"))
        amount = c3.number_input("Requests" if until == "requests" else "Seconds", 1, 600, 16,
                                 help=SERVING_HELP["amount"], **common.kept("sl_amount"))
        names = list(samples.available())
        chosen = c4.multiselect("Samples (sent round-robin with your photos)", names, names[:2],
                                **common.kept("sl_images"))
        go_load = st.form_submit_button("Run load", disabled=not allowed)
    common.stopped_notice("sl_load")
    if not (go_load and allowed):
        return
    images = tuple((f"{name}.png", common.sample_bytes(name)) for name in chosen) + tuple((u.name, u.data) for u in own)
    if not images:
        st.error("Pick at least one sample or upload a photo.")
        return
    since = engine.now()
    by_count = until == "requests"
    run = engine.run_load(images, int(clients), int(amount) if by_count else None,
                          None if by_count else float(amount), visitor=me)
    status, mem_slot, status_slot = st.empty(), st.empty(), st.empty()
    finished = False
    try:
        with common.stoppable("sl_load", "the load run") as job:
            while not run.done:
                snap = run.snapshot()
                goal = f"of {int(amount)} " if by_count else ""
                job.step(len(snap.samples), int(amount) if by_count else 0, f"{snap.throughput:.2f} ok/s")
                status.caption(f"{len(snap.samples)} {goal}answered after {snap.wall_seconds:.0f} s, "
                               f"{snap.throughput:.2f} ok/s so far")
                tree = [s for s in engine.sampler.samples() if s.t >= since] if engine.sampler else []
                mem_slot.plotly_chart(load_charts.tree_memory(tree), key=f"sl_live_mem_{time.monotonic()}")
                status_slot.plotly_chart(load_charts.status_timeline(snap.samples),
                                         key=f"sl_live_status_{time.monotonic()}")
                time.sleep(POLL)
            finished = True
    finally:
        if not finished:  # stopped: the clients end after their request in flight; keep what was answered
            run.stop()
        engine.finish(run, since, visitor=me, stopped=not finished)
    for slot in (status, mem_slot, status_slot):
        slot.empty()


def results_section(records: list[LabRecord]) -> None:
    last = records[-1]
    r = last.result
    st.subheader(f"Run #{last.number}: {r.concurrency} clients, {len(r.samples)} requests"
                 + (" (stopped early)" if last.stopped else ""))
    st.caption(f"Server: {last.server.label()}")
    m = st.columns(4)
    m[0].metric("Throughput", f"{r.throughput:.2f} ok/s")
    for col, (name, value) in zip(m[1:4], [("p50", r.p50), ("p95", r.p95), ("p99", r.p99)]):
        col.metric(f"Latency {name}", "–" if value is None else f"{value:.2f} s")
    small = " With fewer than 20, p95 and p99 are both the slowest one." if r.ok < 20 else ""
    st.caption(f"Percentiles are of the **{r.ok} requests answered 200** (nearest rank); 503s and connection "
               f"errors are not in them.{small}")
    st.markdown("**Statuses**: " + " · ".join(f"`{k}` × {v} — {STATUS_HELP.get(k, 'other HTTP status')}"
                                               for k, v in r.status_counts.items()))
    st.caption("Requests per worker (an idle worker shows 0) and the malloc each one runs, read from its "
               "/proc/PID/maps:")
    st.dataframe(last.per_worker(), hide_index=True, key="sl_workers_table")
    st.plotly_chart(load_charts.tree_memory(list(last.memory)), key="sl_mem")
    st.plotly_chart(load_charts.status_timeline(list(r.samples)), key="sl_status")
    st.subheader("History")
    st.dataframe([serving_row(rec) for rec in records], hide_index=True, key="sl_history", width="stretch",
                 column_order=list(HISTORY_WIDTHS),
                 column_config={k: st.column_config.Column(width=w) for k, w in HISTORY_WIDTHS.items()})
    st.subheader("The article's claim: `--preload` lets workers share the model")
    st.caption("Compared per busy worker: only runs where every worker served requests count (requests per "
               "worker are in the history, by worker pid), at least two runs each way with the same workers, "
               "flags and clients, run interleaved (on, off, on, off). PSS splits shared pages between sharers.")
    verdict = preload_verdict(records)
    if verdict is None:
        st.info("Run the same load on a server with 2+ workers with --preload and without, twice each, "
                "alternating; the comparison per busy worker appears here.")
    elif verdict.told:
        st.success(f"**Preload {verdict.verdict}**: {verdict.because}.", icon=":material/check_circle:")
    else:
        st.warning(f"**Could not tell**: {verdict.because}.", icon=":material/help:")


common.require_app_frame()
st.title("Serving Lab")
st.caption("The production service (`python -m rembg_core serve`: gunicorn + uvicorn workers) as a child process "
           "on a free 127.0.0.1 port, under a bounded load from this page. Memory is read from /proc for every "
           "process in the server's tree: RSS counts shared pages once per process, PSS splits them, USS is "
           "what a process alone holds.")
engine = lab()
me = common.visitor()
engine.seen(me)
server_section(engine, me, common.settings())
load_section(engine, me)
mine = [rec for rec in engine.records if rec.owner == me]
if mine:
    results_section(mine)
