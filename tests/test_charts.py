"""charts.py: pure functions from measurements to plotly figures."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from rembg_core.dashboard import charts
from rembg_core.measure.sampling import Mark, MemoryTrace, RssSampler, Sample
from rembg_core.memory import MB


def make_trace(before=100, peak=400, after=250, stages=(("load", 0.0, 0.1), ("inference", 0.1, 0.9))) -> MemoryTrace:
    samples = [Sample(0.0, before * MB), Sample(0.05, (before + 10) * MB), Sample(0.5, peak * MB),
               Sample(0.95, after * MB), Sample(1.0, after * MB)]
    marks = []
    for label, t0, t1 in stages:
        marks += [Mark(t0, label, "start"), Mark(t1, label, "end")]
    return MemoryTrace(before=before * MB, peak=peak * MB, after=after * MB, samples=tuple(samples),
                       marks=tuple(sorted(marks, key=lambda m: m.t)), duration=1.0, interval=0.005)


def names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def test_timeline_has_rss_line_markers_and_a_band_per_stage():
    fig = charts.rss_timeline(make_trace())
    assert isinstance(fig, go.Figure)
    rss = fig.data[0]
    assert rss.name == "RSS"
    assert list(rss.y) == pytest.approx([100, 110, 400, 250, 250])
    assert "before 100 MB" in names(fig) and "peak 400 MB" in names(fig) and "after 250 MB" in names(fig)
    peak = next(t for t in fig.data if t.name.startswith("peak"))
    assert list(peak.x) == [0.5] and list(peak.y) == [400]
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(b.x0, b.x1) for b in bands] == [(0.0, 0.1), (0.1, 0.9)]
    # stage colours are keyed in the legend, once per stage
    assert names(fig).count("load") == 1 and names(fig).count("inference") == 1


def test_timeline_labels_only_wide_bands_and_no_placeholder_text():
    trace = make_trace(stages=(("load", 0.0, 0.01), ("inference", 0.1, 0.9), ("inference", 0.9, 0.95)))
    texts = [a.text for a in charts.rss_timeline(trace).layout.annotations]
    assert texts == ["inference"]  # the 1 % load band and the second inference span carry no text
    assert "new text" not in texts


def test_timeline_phase_spans_are_a_strip_not_a_band():
    trace = make_trace(stages=(("warmup", 0.0, 0.5), ("inference", 0.1, 0.4), ("run", 0.5, 1.0)))
    strips = [s for s in charts.rss_timeline(trace).layout.shapes if s.y0 == 0.97]
    assert [(s.x0, s.x1) for s in strips] == [(0.0, 0.5), (0.5, 1.0)]


def test_timeline_from_a_real_sampler():
    with RssSampler(interval=0.002) as sampler:
        with sampler.stage("compose"):
            block = bytearray(32 * MB)
            block[::4096] = b"x" * len(block[::4096])  # touch the pages so RSS really grows
        del block
    trace = sampler.trace
    fig = charts.rss_timeline(trace)
    assert len(fig.data[0].x) == len(trace.samples)
    assert max(fig.data[0].y) * MB <= trace.peak + 1


def test_overlay_is_relative_to_each_runs_start():
    fig = charts.rss_overlay({"a": make_trace(before=100, peak=300, after=120),
                              "b": make_trace(before=500, peak=600, after=500)})
    assert names(fig) == ["a", "b"]
    assert fig.data[0].y[0] == 0 and fig.data[1].y[0] == 0
    assert max(fig.data[1].y) == pytest.approx(100)
    absolute = charts.rss_overlay({"b": make_trace(before=500, peak=600, after=500)}, relative=False)
    assert absolute.data[0].y[0] == pytest.approx(500)


def test_stage_timings_in_order_without_total():
    fig = charts.stage_timings({"load": 0.01, "inference": 0.3, "compose": 0.02, "total": 0.33})
    bar = fig.data[0]
    assert list(bar.y) == ["load", "inference", "compose"]
    assert list(bar.x) == pytest.approx([10, 300, 20])


def test_live_rss():
    fig = charts.live_rss([(0.0, 100 * MB), (0.2, 150 * MB)])
    assert list(fig.data[0].y) == pytest.approx([100, 150])


def test_pareto_front_lower_is_better_on_both_axes():
    pts = [(1.0, 100.0), (2.0, 50.0), (2.5, 60.0), (0.5, 300.0), (1.0, 100.0)]
    assert charts.pareto_front(pts) == [0, 1, 3, 4]  # (2.5, 60) is beaten by (2.0, 50); ties both stay


def records():
    return [
        {"label": "arena on, pattern on", "latency": 0.25, "retained": 400 * MB, "peak": 700 * MB},
        {"label": "arena on, pattern off", "latency": 0.26, "retained": 280 * MB, "peak": 540 * MB},
        {"label": "arena off, pattern on", "latency": 0.36, "retained": 300 * MB, "peak": 530 * MB},
        {"label": "arena off, pattern off", "latency": 0.33, "retained": 30 * MB, "peak": 545 * MB},
    ]


def test_pareto_chart_splits_front_and_stars_the_recommendation():
    fig = charts.pareto(records(), recommended="arena off, pattern off")
    front = next(t for t in fig.data if t.name == "Pareto front")
    dominated = next(t for t in fig.data if t.name == "dominated")
    assert {c[1] for c in front.customdata} == {"arena on, pattern on", "arena on, pattern off",
                                                "arena off, pattern off"}
    assert [c[1] for c in dominated.customdata] == ["arena off, pattern on"]
    assert list(dominated.text) == ["3"]  # the dominated point is numbered too: row 3 of the table
    star = next(t for t in fig.data if t.name.startswith("recommended"))
    assert (star.x[0], star.y[0]) == (0.33, 30)
    # marker size grows with peak: the 700 MB config is the biggest
    sizes = dict(zip((c[1] for c in front.customdata), front.marker.size))
    assert sizes["arena on, pattern on"] == max(sizes.values())


def test_pareto_chart_uses_the_sweeps_own_flags_when_given():
    recs = [dict(r, pareto=(i == 0)) for i, r in enumerate(records())]
    fig = charts.pareto(recs)
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert [c[1] for c in front.customdata] == ["arena on, pattern on"]
    assert not any(t.name.startswith("recommended") for t in fig.data)


def test_pareto_chart_empty():
    assert isinstance(charts.pareto([]), go.Figure)


def test_pareto_chart_numbers_every_point_inside_its_marker_and_keeps_every_point_inside():
    fig = charts.pareto(records(), recommended="arena off, pattern off")
    front = next(t for t in fig.data if t.name == "Pareto front")
    dominated = next(t for t in fig.data if t.name == "dominated")
    assert front.mode == dominated.mode == "markers+text"
    assert front.textposition == dominated.textposition == "middle center"  # inside: never on a neighbour
    assert sorted(list(front.text) + list(dominated.text)) == ["1", "2", "3", "4"]
    star = next(t for t in fig.data if t.name == "recommended")  # a short legend entry: it never overflows
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    for r in records():
        assert x0 < r["latency"] < x1 and y0 < r["retained"] / MB < y1
    assert x0 < star.x[0] < x1


def test_pareto_chart_draws_the_latency_interval_only_when_given():
    plain = charts.pareto(records())
    assert all(t.error_x.array is None for t in plain.data)
    with_ci = charts.pareto([dict(r, low=r["latency"] - 0.01, high=r["latency"] + 0.02) for r in records()])
    front = next(t for t in with_ci.data if t.name == "Pareto front")
    assert list(front.error_x.array) == pytest.approx([0.02] * len(front.x))
    assert list(front.error_x.arrayminus) == pytest.approx([0.01] * len(front.x))
