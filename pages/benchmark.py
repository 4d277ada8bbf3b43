"""Benchmark: the config sweep, each configuration in its own fresh process; Pareto chart and exports."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from pages import common
from rembg_core import bench, charts
from rembg_core.memory import MB

RESULT = "bench_result"


def recommended_name(result: bench.SweepResult) -> str | None:
    """The config the sweep recommends: its line reads 'recommended: NAME — ...'."""
    line = result.recommendation
    if not line.startswith("recommended: "):
        return None
    return line.removeprefix("recommended: ").split(" — ", 1)[0]


def chart_records(result: bench.SweepResult) -> list[dict]:
    return [{"label": r.config.name, "latency": r.median_latency, "retained": r.retained, "peak": r.peak,
             "pareto": p} for r, p in zip(result.records, result.pareto) if r.ok and r.latencies]


def run_sweep(picked: common.Picked, kind: str, repeats: int, warmups: int, max_size: int | None,
              model: str) -> bench.SweepResult:
    configs = bench.config_set(kind, model)
    bar = st.progress(0.0, text=f"Measuring {len(configs)} configurations, each in a fresh process…")

    def progress(done: int, total: int, record: bench.ProbeRecord) -> None:
        status = (f"{record.median_latency:.3f} s, peak {record.peak / MB:.0f} MB" if record.ok
                  else f"failed: {record.reason}")
        bar.progress(done / total, text=f"{done}/{total} · {record.config.name}: {status}")

    result = bench.sweep(common.as_file(picked), configs, max_size=max_size, repeats=repeats, warmups=warmups,
                         progress=progress)
    bar.empty()
    return result


def show(result: bench.SweepResult) -> None:
    name = recommended_name(result)
    if name:
        st.success(result.recommendation, icon=":material/star:")
    else:
        st.error(result.recommendation)
    if result.warnings:
        st.warning("\n".join(f"- {w}" for w in result.warnings), icon=":material/warning:")
    records = chart_records(result)
    if records:
        st.plotly_chart(charts.pareto(records, recommended=name), key="bench_pareto")
        st.caption("Lower-left is better. Every point is a fresh process: model load, "
                   f"{result.warmups} warm-up(s), then {result.repeats} measured images; latency is the median, "
                   "retained = RSS after the last image − RSS with the session loaded, marker size = peak RSS "
                   "(the child's kernel high-water mark). Highlighted markers are on the Pareto front (nobody beats them on "
                   "latency, retained and peak at once).")
    st.dataframe(result.rows(), hide_index=True, width="stretch")
    base = "rembg-lab-sweep"
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", result.to_csv(), f"{base}.csv", "text/csv", key="bench_csv",
                       on_click="ignore", icon=":material/download:", width="stretch")
    c2.download_button("Download JSON", json.dumps(result.to_dict(), indent=1), f"{base}.json",
                       "application/json", key="bench_json", on_click="ignore", icon=":material/download:",
                       width="stretch")
    meta = next((r.meta for r in result.records if r.ok and r.meta), None)
    if meta:
        st.caption(f"Machine: {meta.get('processor')}, {meta.get('cpu_count')} CPUs, load average "
                   f"{', '.join(f'{v:.1f}' for v in meta.get('loadavg') or [])} at the time; ONNX Runtime "
                   f"{meta.get('onnxruntime')}, Python {meta.get('python')}. Image: {Path(result.image).name}.")


common.require_app_frame()
st.title("Benchmark")
st.caption("Sweeps ONNX Runtime's memory settings on one image, each configuration in a fresh Python process so "
           "no configuration's arena colours the next. Other work on this machine makes latencies noisy; memory "
           "figures are steadier.")
picked = common.pick_image("bench", default_sample=True)
c1, c2, c3, c4 = st.columns(4)
kind = c1.selectbox("Configurations", ["flags", "full"], key="bench_kind",
                    format_func=lambda k: {"flags": "arena × memory pattern (4)",
                                           "full": "full: + shrinkage, threads, allocator (11)"}[k])
repeats = c2.slider("Measured images", 1, 10, 3, key="bench_repeats")
warmups = c3.slider("Warm-ups", 0, 3, 2, key="bench_warmups",
                    help="The memory pattern allocates on the second run: two warm-ups keep that out of the "
                         "per-image figures.")
max_size = c4.select_slider("max_size", common.MAX_SIZE_CHOICES, value=0, key="bench_max_size",
                            format_func=common.max_size_label)
settings = common.settings()
if st.button("Run the sweep", type="primary", icon=":material/speed:", key="bench_run"):
    if picked is None:
        st.warning("Pick a sample or upload an image first.")
    else:
        st.session_state[RESULT] = run_sweep(picked, kind, repeats, warmups, int(max_size) or None,
                                             settings.config.model)

with st.expander("Open a saved sweep"):
    loaded = st.file_uploader("A sweep saved as JSON, from here or `python -m rembg_core bench --json`",
                              type=["json"], key="bench_load")
if loaded is not None:
    try:
        st.session_state[RESULT] = bench.SweepResult.from_dict(json.loads(loaded.getvalue()))
    except (ValueError, KeyError, TypeError) as exc:
        st.error(f"**{loaded.name}**: not a sweep saved by Rembg Lab ({type(exc).__name__}: {exc})")

result = st.session_state.get(RESULT)
if result is None:
    st.info("Press **Run the sweep**: the four arena × pattern configurations take about half a minute.",
            icon=":material/speed:")
else:
    show(result)
