"""Benchmark: the config sweep, each configuration in its own fresh process; Pareto chart and exports."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from pages import common
from rembg_core import bench, charts, models
from rembg_core.errors import ModelError
from rembg_core.imageio import load_image
from rembg_core.memory import MB
from rembg_core.quantize import quality

RESULT = "bench_result"
AGREEMENT = "bench_agreement"
QUALITY = "bench_quality"
PRECISIONS = {"u2netp": "fp32", "u2netp-int8": "int8"}


def recommended_name(result: bench.SweepResult) -> str | None:
    """The config the sweep recommends: its line reads 'recommended: NAME — ...'."""
    line = result.recommendation
    if not line.startswith("recommended: "):
        return None
    return line.removeprefix("recommended: ").split(" — ", 1)[0]


def chart_records(result: bench.SweepResult) -> list[dict]:
    return [{"label": r.config.name, "latency": r.median_latency, "retained": r.retained, "peak": r.peak,
             "pareto": p} for r, p in zip(result.records, result.pareto) if r.ok and r.latencies]


def precision_configs(kind: str, model_names: list[str]) -> list[bench.BenchConfig]:
    """The sweep's configurations once per model; with two precisions each label says which."""
    configs = []
    for name in model_names:
        for c in bench.config_set(kind, name):
            label = f"{PRECISIONS.get(name, name)} · {c.name}" if len(model_names) > 1 else c.name
            configs.append(bench.BenchConfig.from_dict({**c.to_dict(), "name": label}))
    return configs


def fetch_with_bar(name: str) -> bool:
    if models.is_available(name):
        return True
    bar = st.progress(0.0, text=f"Preparing model {name}…")
    try:
        models.fetch(name, lambda message, done, total: bar.progress(min(1.0, done / total) if total else 0.0,
                                                                     text=message))
    except ModelError as exc:
        st.error(f"**{name}**: the model is unavailable: {exc}")
        return False
    finally:
        bar.empty()
    return True


def run_sweep(picked: common.Picked, kind: str, repeats: int, warmups: int, max_size: int | None,
              model_names: list[str]) -> bench.SweepResult:
    configs = precision_configs(kind, model_names)
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
    agreement = st.session_state.get(AGREEMENT)
    if agreement is not None:
        st.caption(f"Mask agreement, int8 vs fp32, on this image (measured with the sweep): IoU at 0.5 "
                   f"**{agreement.iou:.4f}**, mean |Δα| **{agreement.mean_abs_delta:.2f}** levels "
                   f"(max {agreement.max_abs_delta}). Latency and memory above, agreement here: the trade-off.")
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
default_models = [settings.config.model] if settings.config.model in PRECISIONS else []
chosen = st.multiselect("Precision", list(PRECISIONS), default=default_models, key="bench_precision",
                        format_func=lambda n: f"{PRECISIONS[n]} ({n})",
                        help="Both: every configuration runs once per model, and the int8 mask is compared "
                             "with the fp32 one on this image.")
if st.button("Run the sweep", type="primary", icon=":material/speed:", key="bench_run"):
    if picked is None:
        st.warning("Pick a sample or upload an image first.")
    elif all(fetch_with_bar(n) for n in chosen or [settings.config.model]):
        st.session_state[RESULT] = run_sweep(picked, kind, repeats, warmups, int(max_size) or None,
                                             chosen or [settings.config.model])
        st.session_state[AGREEMENT] = None
        if set(PRECISIONS) <= set(chosen):
            rgb = load_image(picked.data, max_size=int(max_size) or None).rgb
            st.session_state[AGREEMENT] = quality.side_by_side(rgb)[3]

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


def show_quality(report: quality.QualityReport, worst: tuple) -> None:
    failures = report.failures()
    verdict = ("passes the gate" if not failures else "fails the gate: " + "; ".join(failures))
    (st.success if not failures else st.error)(
        f"Mean IoU **{report.mean_iou:.4f}**, worst **{report.worst.iou:.4f}** ({report.worst.name}), "
        f"mean |Δα| **{report.mean_abs_delta:.2f}** levels: {verdict} (mean IoU ≥ {quality.GATE_MEAN_IOU}, "
        f"worst ≥ {quality.GATE_WORST_IOU}, mean |Δα| ≤ {quality.GATE_MEAN_ABS_DELTA:g}).")
    st.dataframe([{"photo": p.name, "size": f"{p.size[0]}×{p.size[1]}", "IoU at 0.5": round(p.iou, 4),
                   "mean |Δα| (levels)": round(p.mean_abs_delta, 3), "max |Δα|": p.max_abs_delta}
                  for p in report.photos], hide_index=True, width="stretch")
    ref, cand, diff = worst
    st.markdown(f"**Worst case: {report.worst.name}**")
    c1, c2, c3 = st.columns(3)
    c1.image(ref, caption="fp32 mask", width="stretch")
    c2.image(cand, caption="int8 mask", width="stretch")
    c3.image(diff, caption="|difference| × 4", width="stretch")


st.divider()
st.subheader("Quality: int8 against fp32")
st.caption("Per photo: IoU of the two masks at 0.5 and the mean alpha difference, on photos never used to "
           "calibrate the int8 model (held out from scikit-image's set, plus the two drawn scenes).")
if st.button("Measure quality", icon=":material/compare:", key="bench_quality_run"):
    if fetch_with_bar("u2netp") and fetch_with_bar("u2netp-int8"):
        photos = quality.default_photos()
        bar = st.progress(0.0, text="Comparing masks…")
        report = quality.measure(photos, progress=lambda done, total, name: bar.progress(
            done / total, text=f"{done}/{total} {name}"))
        bar.empty()
        loaders = dict(photos)
        st.session_state[QUALITY] = (report, quality.side_by_side(loaders[report.worst.name]())[:3])
if st.session_state.get(QUALITY) is not None:
    show_quality(*st.session_state[QUALITY])
