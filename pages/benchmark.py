"""Benchmark: the config sweep, each configuration in its own fresh process; Pareto chart and exports."""

from __future__ import annotations

import json

import streamlit as st

from pages import common
from rembg_core import charts
from rembg_core.measure import report
from rembg_core.measure.configs import config_set
from rembg_core.measure.records import ProbeRecord
from rembg_core.measure.sampling import MB
from rembg_core.measure.sweep import SweepResult, sweep

RESULT = "bench_result"


def chart_records(result: SweepResult) -> list[dict]:
    return [{"label": s.name, "latency": s.median_latency, "retained": s.retained, "peak": s.peak, "pareto": p}
            for s, p in zip(result.summaries, result.pareto) if s.ok]


def run_sweep(picked: common.Picked, kind: str, rounds: int, repeats: int, warmups: int, max_size: int | None,
              model: str) -> SweepResult:
    configs = config_set(kind, model)
    bar = st.progress(0.0, text=f"Measuring {len(configs)} configurations × {rounds} rounds, each in a fresh process…")

    def progress(done: int, total: int, record: ProbeRecord) -> None:
        status = (f"{record.median_latency:.3f} s, peak {record.peak / MB:.0f} MB"
                  if record.ok and record.median_latency is not None else f"failed: {record.reason}")
        bar.progress(done / total, text=f"{done}/{total} · {record.config.name}: {status}")

    result = sweep(common.as_file(picked), configs, max_size=max_size, rounds=rounds, repeats=repeats,
                   warmups=warmups, progress=progress)
    bar.empty()
    return result


def show(result: SweepResult) -> None:
    rec = result.recommendation
    if rec.name:
        st.success(rec.text, icon=":material/star:")
    else:
        st.error(rec.text)
    for w in result.warnings:
        st.warning(w.message, icon=":material/warning:")
    records = chart_records(result)
    if records:
        st.plotly_chart(charts.pareto(records, recommended=rec.name), key="bench_pareto")
        st.caption("Lower-left is better. Every point is a fresh process: model load, "
                   f"{result.warmups} warm-up(s), then {result.repeats} measured images, in {result.rounds} "
                   "interleaved round(s); latency is the median with its 95 % interval, "
                   "retained = RSS after the last image − RSS with the session loaded, marker size = peak RSS "
                   "(the child's kernel high-water mark). Highlighted markers are on the Pareto front (nobody beats them on "
                   "latency, retained and peak at once).")
    st.dataframe(report.rows(result), hide_index=True, width="stretch")
    base = "rembg-lab-sweep"
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", report.to_csv(result), f"{base}.csv", "text/csv", key="bench_csv",
                       on_click="ignore", icon=":material/download:", width="stretch")
    c2.download_button("Download JSON", json.dumps(result.to_dict(), indent=1), f"{base}.json",
                       "application/json", key="bench_json", on_click="ignore", icon=":material/download:",
                       width="stretch")
    meta = next((r.meta for r in result.records if r.ok and r.meta), None)
    if meta:
        st.caption(f"Machine: {meta.get('processor')}, {meta.get('cpu_count')} CPUs, load average "
                   f"{', '.join(f'{v:.1f}' for v in meta.get('loadavg') or [])} at the time; ONNX Runtime "
                   f"{meta.get('onnxruntime')}, Python {meta.get('python')}. Image: {result.image}.")


common.require_app_frame()
st.title("Benchmark")
st.caption("Sweeps ONNX Runtime's memory settings on one image, each configuration in a fresh Python process so "
           "no configuration's arena colours the next. Other work on this machine makes latencies noisy; memory "
           "figures are steadier.")
picked = common.pick_image("bench", default_sample=True)
c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 2, 3])
kind = c1.selectbox("Configurations", ["flags", "full"], key="bench_kind",
                    format_func=lambda k: f"{'arena × pattern' if k == 'flags' else 'full sweep'} "
                                          f"({len(config_set(k))})")
rounds = c2.slider("Rounds", 1, 5, 2, key="bench_rounds",
                   help="Every configuration runs once per round, interleaved (A B C, A B C, …), each time in a "
                        "fresh process, so machine load hits them alike.")
repeats = c3.slider("Measured images", 1, 10, 3, key="bench_repeats")
warmups = c4.slider("Warm-ups", 0, 3, 2, key="bench_warmups",
                    help="The memory pattern allocates on the second run: two warm-ups keep that out of the "
                         "per-image figures.")
max_size = c5.select_slider("max_size", common.MAX_SIZE_CHOICES, value=0, key="bench_max_size",
                            format_func=common.max_size_label)
settings = common.settings()
if st.button("Run the sweep", type="primary", icon=":material/speed:", key="bench_run"):
    if picked is None:
        st.warning("Pick a sample or upload an image first.")
    else:
        st.session_state[RESULT] = run_sweep(picked, kind, rounds, repeats, warmups, int(max_size) or None,
                                             settings.config.model)

with st.expander("Open a saved sweep"):
    loaded = st.file_uploader("A sweep saved as JSON, from here or `python -m rembg_core bench --json`",
                              type=["json"], key="bench_load")
if loaded is not None:
    try:
        st.session_state[RESULT] = SweepResult.from_dict(json.loads(loaded.getvalue()))
    except (ValueError, KeyError, TypeError) as exc:
        st.error(f"**{loaded.name}**: not a sweep saved by Rembg Lab ({type(exc).__name__}: {exc})")

result = st.session_state.get(RESULT)
if result is None:
    st.info("Press **Run the sweep**: the four arena × pattern configurations take about half a minute.",
            icon=":material/speed:")
else:
    show(result)
