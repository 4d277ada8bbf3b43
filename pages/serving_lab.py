"""Serving Lab: start the real HTTP service (gunicorn workers), load it, watch every process's memory."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from pages import common
from rembg_core import allocator, samples
from rembg_core.dashboard import load_charts
from rembg_core.dashboard.serving import LabServer, ServingLab, preload_verdict
from rembg_core.server.config import ServerConfig
from rembg_core.server.launcher import GunicornSettings

POLL = 0.5  # s between live redraws while a load runs


@st.cache_resource
def lab() -> ServingLab:
    """One lab per dashboard process: one server at a time, stopped when the dashboard exits."""
    return ServingLab()


common.require_app_frame()
st.title("Serving Lab")
st.caption("The production service (`python -m rembg_core serve`: gunicorn + uvicorn workers) as a child process "
           "on a free 127.0.0.1 port, under a bounded load from this page. Memory is read from /proc for every "
           "process in the server's tree: RSS counts shared pages once per process, PSS splits them, USS is "
           "what a process alone holds.")
engine = lab()
base = common.settings()

# --- the server ---------------------------------------------------------------------------
SERVICE = ServerConfig()  # the service's own defaults
with st.form("sl_server"):
    c1, c2, c3, c4 = st.columns(4)
    workers = c1.number_input("Workers", 1, 4, 2, key="sl_workers")
    preload = c2.toggle("--preload", True, key="sl_preload",
                        help="Verify and load the model in the master before forking the workers.")
    k = c3.number_input("C: runs in the model per worker", 0, 4, SERVICE.max_inflight, key="sl_k",
                        help="The run gate. 0: one run, with the worker's share of the cores as its threads.")
    q = c4.number_input("Q: waiting per worker", 0, 64, SERVICE.max_queue, key="sl_q",
                        help="Beyond the processing slots + Q: 503 with Retry-After.")
    c5, c6, c7, c8 = st.columns(4)
    max_size = c5.select_slider("max_size", [320, 640, 1024, 1600, 2048, 4096], SERVICE.max_size,
                                key="sl_max_size")
    idle = c6.number_input("idle seconds", 5, 600, int(SERVICE.idle_seconds), key="sl_idle",
                           help="Drop the session after this long idle.")
    usable = [name for name, ok in allocator.available().items() if ok]
    malloc = c7.selectbox("Allocator", usable, key="sl_allocator",
                          help="glibc (mmap threshold 128 KB), or jemalloc/mimalloc preloaded into every server "
                               "process (LD_PRELOAD).")
    c8.caption(f"Session flags from the sidebar: {base.config.label()}")
    start = st.form_submit_button("Start server", type="primary")
if start:
    spec = LabServer(ServerConfig(session=base.config, max_size=int(max_size), max_inflight=int(k),
                                  max_queue=int(q), idle_seconds=float(idle),
                                  allocator=SERVICE.allocator if malloc == "glibc" else allocator.AllocatorChoice(malloc)),
                     GunicornSettings(workers=int(workers), preload=bool(preload)))
    with st.spinner("Starting the server (the workers load the model)…"):
        try:
            engine.start(spec)
        except RuntimeError as exc:
            st.error(f"server: {str(exc).splitlines()[0]}")

if engine.running:
    ready = engine.ready()
    left, right = st.columns([4, 1])
    left.success(f"Running on {engine.server.url} — {engine.spec.label()} — master pid {engine.server.pid}, "
                 f"workers {', '.join(map(str, engine.server.workers()))} — ready: {ready.get('ready')}")
    if right.button("Stop server", key="sl_stop"):
        engine.stop()
        st.rerun()
else:
    st.info("No server running. Pick the settings above and press **Start server**.")

# --- the load ------------------------------------------------------------------------------
st.subheader("Load")
with st.form("sl_load"):
    c1, c2, c3, c4 = st.columns([1, 1, 1, 3])
    clients = c1.number_input("Concurrent clients", 1, 64, 4, key="sl_clients")
    until = c2.radio("Stop after", ["requests", "seconds"], key="sl_until")
    amount = c3.number_input("Requests" if until == "requests" else "Seconds", 1, 600, 16, key="sl_amount",
                             help="A number of requests in total, or a time limit (at most 600 s).")
    names = list(samples.available())
    chosen = c4.multiselect("Images (sent round-robin)", names, names[:2], key="sl_images")
    go_load = st.form_submit_button("Run load", disabled=not engine.running)

if go_load and engine.running:
    if not chosen:
        st.error("Pick at least one image.")
        st.stop()
    images = tuple((f"{name}.png", common.sample_bytes(name)) for name in chosen)
    since = engine.now()
    by_count = until == "requests"
    run = engine.run_load(images, int(clients), int(amount) if by_count else None,
                          None if by_count else float(amount))
    status, mem_slot, status_slot = st.empty(), st.empty(), st.empty()
    while not run.done:
        snap = run.snapshot()
        goal = f"of {int(amount)} " if by_count else ""
        status.caption(f"{len(snap.samples)} {goal}answered after {snap.wall_seconds:.0f} s, "
                       f"{snap.throughput:.2f} ok/s so far")
        mem_slot.plotly_chart(load_charts.tree_memory([s for s in engine.sampler.samples() if s.t >= since]),
                              key=f"sl_live_mem_{len(snap.samples)}_{time.monotonic()}")
        status_slot.plotly_chart(load_charts.status_timeline(snap.samples),
                                 key=f"sl_live_status_{len(snap.samples)}_{time.monotonic()}")
        time.sleep(POLL)
    record = engine.finish(run, since)
    for slot in (status, mem_slot, status_slot):
        slot.empty()
    st.session_state["sl_last"] = record.number

# --- results -------------------------------------------------------------------------------
if engine.records:
    last = engine.records[-1]
    r = last.result
    st.subheader(f"Run #{last.number}: {r.concurrency} clients, {len(r.samples)} requests")
    m = st.columns(5)
    m[0].metric("Throughput", f"{r.throughput:.2f} ok/s")
    for col, (name, value) in zip(m[1:4], [("p50", r.p50), ("p95", r.p95), ("p99", r.p99)]):
        col.metric(f"Latency {name}", "–" if value is None else f"{value:.2f} s")
    m[4].metric("Statuses", ", ".join(f"{k}: {v}" for k, v in r.status_counts.items()))
    st.caption("Requests per worker (an idle worker shows 0) and the malloc each one runs, read from its "
               "/proc/PID/maps:")
    st.dataframe(pd.DataFrame(last.per_worker()), hide_index=True, key="sl_workers_table")
    st.plotly_chart(load_charts.tree_memory(list(last.memory)), key="sl_mem")
    st.plotly_chart(load_charts.status_timeline(list(r.samples)), key="sl_status")
    st.subheader("History")
    st.dataframe(pd.DataFrame([rec.row() for rec in engine.records]), hide_index=True, key="sl_history")
    st.subheader("The article's claim: `--preload` stops memory doubling")
    verdict = preload_verdict(engine.records)
    if verdict:
        st.write(verdict)
    else:
        st.info("Run the same load on a server with 2+ workers once with --preload and once without; "
                "the comparison of measured PSS appears here.")
