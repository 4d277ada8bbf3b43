"""Benchmark: the config sweep, each configuration in its own fresh process; Pareto chart and exports."""

from __future__ import annotations

import json

import streamlit as st

from pages import common
from rembg_core.allocator import AllocatorError
from rembg_core.dashboard import charts
from rembg_core.errors import ImageLoadError
from rembg_core.imageio import load_image
from rembg_core.measure import noise, report
from rembg_core.measure.analysis import MIN_RUNS
from rembg_core.measure.configs import ProbeConfig, config_set
from rembg_core.measure.records import ProbeRecord
from rembg_core.measure.sweep import SweepResult, sweep
from rembg_core.memory import MB
from rembg_core.quantize import quality

RESULT = "bench_result"
# report.display_rows: every cell a string, "–" where there is no figure; units in the labels
TABLE = {"#": ("#", 30), "config": ("config", 164), "runs": ("runs", 44), "median_s": ("median s", 66),
         "interval_s": ("95 % interval s", 96), "spread_pct": ("spread", 56), "peak_mb": ("peak MB", 64),
         "retained_mb": ("retained MB", 84), "release_pct": ("released", 66), "pareto": ("Pareto", 56),
         "allocator": ("allocator", 90)}  # fits 818 px, the main column at 1280 px
KINDS = {"flags": "arena × pattern", "full": "full sweep", "allocators": "allocators × arena"}
AGREEMENT = "bench_agreement"
QUALITY = "bench_quality"
PRECISIONS = {"u2netp": "fp32", "u2netp-int8": "int8"}


def chart_records(result: SweepResult) -> list[dict]:
    """One per configuration that ran, numbered as its row in the table."""
    out = []
    for n, (s, p) in enumerate(zip(result.summaries, result.pareto), 1):
        if s.ok:
            ci = s.interval
            out.append({"label": s.name, "number": n, "latency": s.median_latency, "retained": s.retained,
                        "peak": s.peak, "pareto": p, "low": ci[0] if ci else None, "high": ci[1] if ci else None})
    return out


def precision_configs(kind: str, model_names: list[str]) -> list[ProbeConfig]:
    """The sweep's configurations once per model; with two precisions each label says which."""
    if len(model_names) == 1:
        return config_set(kind, model_names[0])
    return [ProbeConfig.from_dict({**c.to_dict(), "name": f"{PRECISIONS.get(name, name)} · {c.name}"})
            for name in model_names for c in config_set(kind, name)]


def run_sweep(picked: common.Picked, kind: str, rounds: int, repeats: int, warmups: int, max_size: int | None,
              model_names: list[str], job: common.Job) -> SweepResult:
    configs = precision_configs(kind, model_names)
    bar = st.progress(0.0, text=f"Measuring {len(configs)} configurations × {rounds} rounds, each in a fresh process…")

    def progress(done: int, total: int, record: ProbeRecord) -> None:
        status = (f"{record.median_latency:.3f} s, peak {record.memory.peak / MB:.0f} MB"
                  if record.ok and record.median_latency is not None else f"failed: {record.reason}")
        bar.progress(done / total, text=f"{done}/{total} · {record.config.name}: {status}")
        job.step(done, total, f"{record.config.name}: {status}")

    result = sweep(common.as_file(picked), configs, max_size=max_size, rounds=rounds, repeats=repeats,
                   warmups=warmups, progress=progress)
    bar.empty()
    return result


def allocators_missing(kind: str) -> tuple[str, str] | None:
    """(allocator, reason) for the first allocator this set needs that is not installed, else None."""
    for choice in dict.fromkeys(c.allocator for c in config_set(kind)):
        try:
            choice.env()
        except AllocatorError as exc:
            return choice.name, str(exc)
    return None


def show(result: SweepResult) -> None:
    rec = result.recommendation
    if rec.name:
        st.success(rec.text, icon=":material/star:")
    elif rec.why and any(s.ok for s in result.summaries):
        st.warning(f"**Could not tell** which configuration to recommend: {rec.why}.", icon=":material/help:")
    else:
        st.error(rec.text)
    for w in result.warnings:
        st.warning(w.message, icon=":material/warning:")
    records = chart_records(result)
    if records:
        st.plotly_chart(charts.pareto(records, recommended=rec.name), key="bench_pareto")
        bars = all(r["low"] is not None for r in records)
        st.caption("Lower-left is better. Each marker's number is its row in the table below. Every point is a fresh "
                   f"process: model load, {result.warmups} warm-up(s), then {result.repeats} measured images, in "
                   f"{result.rounds} interleaved round(s); x = median latency"
                   + (" with its 95 % interval as a bar" if bars else " (too few runs for an interval)")
                   + ", y = retained (RSS after the last image − RSS with the session loaded), marker size = peak RSS "
                   "(the child's kernel high-water mark). Blue markers are on the Pareto front (nobody beats them on "
                   "latency, retained and peak at once), grey ones are dominated; the gold ring is the recommendation.")
    # The columns that fit at 1280 px, short labels; the CSV and JSON downloads hold every figure.
    st.dataframe([{"#": n, **row} for n, row in enumerate(report.display_rows(result), 1)], hide_index=True,
                 width="stretch", column_order=list(TABLE),
                 column_config={k: (st.column_config.CheckboxColumn(label, width=w) if k == "pareto" else
                                    st.column_config.TextColumn(label, width=w))
                                for k, (label, w) in TABLE.items()})
    st.caption(f"– marks no figure: an interval needs at least {MIN_RUNS} timings; retained and released within "
               f"the {noise.FLOOR_TEXT} noise floor of RSS readings are not figures. Percent for ratios; the CSV "
               "and JSON name each column's unit.")
    if not any(s.ok for s in result.summaries):
        return  # nothing was measured: nothing to download
    agreement = st.session_state.get(AGREEMENT)
    if agreement is not None:
        st.caption(f"Mask agreement, int8 vs fp32, on this image (measured with the sweep): IoU at 0.5 "
                   f"**{agreement.iou:.4f}**, mean |Δα| **{agreement.mean_abs_delta:.2f}** levels "
                   f"(max {agreement.max_abs_delta}). Latency and memory above, agreement here: the trade-off.")
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
kind = c1.selectbox("Configurations", list(KINDS), **common.kept("bench_kind"),
                    format_func=lambda k: f"{KINDS[k]} ({len(config_set(k))})",
                    help="allocators: glibc, MALLOC_ARENA_MAX=2, a pinned MALLOC_MMAP_THRESHOLD_, jemalloc and "
                         "mimalloc, each with ORT's arena on and off; every child checks which malloc it runs.")
rounds = c2.slider("Rounds", 1, 5, 2, **common.kept("bench_rounds"),
                   help="Every configuration runs once per round, interleaved (A B C, A B C, …), each time in a "
                        "fresh process, so machine load hits them alike.")
repeats = c3.slider("Measured images", 1, 10, 3, **common.kept("bench_repeats"))
warmups = c4.slider("Warm-ups", 0, 3, 2, **common.kept("bench_warmups"),
                    help="The memory pattern allocates on the second run: two warm-ups keep that out of the "
                         "per-image figures.")
settings = common.settings()
max_size = settings.max_size or 0  # the sidebar's: one max_size for every page
c5.caption(f"max_size: **{common.max_size_label(max_size)}**, the sidebar's setting (change it there).")
chosen = st.multiselect("Precision", list(PRECISIONS),
                        default=[settings.config.model] if settings.config.model in PRECISIONS else [],
                        **common.kept("bench_precision"), format_func=lambda n: f"{PRECISIONS[n]} ({n})",
                        help="Both: every configuration runs once per model, and the int8 mask is compared "
                             "with the fp32 one on this image.")
common.stopped_notice("bench")
if st.button("Run the sweep", type="primary", icon=":material/speed:", key="bench_run"):
    model_names = chosen or [settings.config.model]
    missing = allocators_missing(kind)
    if picked is None:
        st.warning("Pick a sample or upload an image first.")
    elif missing:
        common.refuse(missing[0], missing[1])
    elif not common.valid_image(picked):
        pass  # refused with its name and reason, before any process starts
    elif all(common.ensure_model(n) for n in model_names):
        with common.stoppable("bench", "the sweep") as job:
            st.session_state[RESULT] = run_sweep(picked, kind, rounds, repeats, warmups, int(max_size) or None,
                                                 model_names, job)
        st.session_state[AGREEMENT] = None
        if set(PRECISIONS) <= set(model_names):
            try:
                rgb = load_image(picked.data, max_size=int(max_size) or None).rgb
                st.session_state[AGREEMENT] = quality.side_by_side(rgb, get=common.shared_session)[3]
            except ImageLoadError as exc:
                st.error(f"**{picked.name}**: {exc}")

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


def show_quality(result: quality.QualityReport, worst: tuple) -> None:
    failures = result.failures()
    verdict = "passes the gate" if not failures else "fails the gate: " + "; ".join(failures)
    (st.success if not failures else st.error)(
        f"Mean IoU **{result.mean_iou:.4f}**, worst **{result.worst.iou:.4f}** ({result.worst.name}), "
        f"mean |Δα| **{result.mean_abs_delta:.2f}** levels: {verdict} (mean IoU ≥ {quality.GATE_MEAN_IOU}, "
        f"worst ≥ {quality.GATE_WORST_IOU}, mean |Δα| ≤ {quality.GATE_MEAN_ABS_DELTA:g}).")
    st.dataframe([{"photo": p.name, "size": f"{p.size[0]}×{p.size[1]}", "IoU at 0.5": round(p.iou, 4),
                   "mean |Δα| (levels)": round(p.mean_abs_delta, 3), "max |Δα|": p.max_abs_delta}
                  for p in result.photos], hide_index=True, width="stretch")
    ref, cand, diff = worst
    st.markdown(f"**Worst case: {result.worst.name}**")
    c1, c2, c3 = st.columns(3)
    c1.image(ref, caption="fp32 mask", width="stretch")
    c2.image(cand, caption="int8 mask", width="stretch")
    c3.image(diff, caption="|difference| × 4", width="stretch")


st.divider()
st.subheader("Quality: int8 against fp32")
st.caption("Per photo: IoU of the two masks at 0.5 and the mean alpha difference, on photos never used to "
           "calibrate the int8 model: held out from scikit-image's set, the two drawn scenes, and rembg's test "
           "fixtures when they are beside the project.")
if st.button("Measure quality", icon=":material/compare:", key="bench_quality_run"):
    if common.ensure_model("u2netp") and common.ensure_model("u2netp-int8"):
        photos = quality.default_photos()
        bar = st.progress(0.0, text="Comparing masks…")

        def progress(done: int, total: int, name: str) -> None:
            bar.progress(done / total, text=f"{done}/{total} {name}")

        measured = quality.measure(photos, get=common.shared_session, progress=progress)
        bar.empty()
        st.session_state[QUALITY] = (measured, quality.side_by_side(dict(photos)[measured.worst.name](),
                                                                     get=common.shared_session)[:3])
if st.session_state.get(QUALITY) is not None:
    show_quality(*st.session_state[QUALITY])
