"""Plotly figures from measurements: pure functions, records and traces in, go.Figure out.

Nothing here measures or renders; the dashboard passes what it measured and shows what comes back.
Traces are memory.MemoryTrace (samples with .t/.rss, marks with .t/.label/.phase, .spans(),
before/after/peak). Sweep records are dicts with the keys named in each function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import plotly.graph_objects as go

from ..measure import noise
from ..measure.sampling import MemoryTrace
from ..memory import MB

# One colour per pipeline stage, so bands read the same on every chart.
STAGE_COLORS = {
    "load": "#8ecae6",
    "session": "#b8b8ff",
    "preprocess": "#ffd166",
    "inference": "#ef476f",
    "postprocess": "#06d6a0",
    "compose": "#118ab2",
    "encode": "#adb5bd",
    "warmup": "#dee2e6",
}
SERIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10), height=380,
              legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0.0))
MIN_LABELLED_BAND = 0.08  # bands narrower than this share of the x range get no text (the legend names them)


PHASE_SPANS = {"warmup": "#6c757d", "run": "#2a6f97"}  # spans that contain whole pipeline runs


def _stage_bands(fig: go.Figure, spans: Sequence[tuple[str, float, float]], x_range: float) -> None:
    """A translucent band per stage span, text on the first wide one of each stage, one legend entry per
    stage. Warm-up/run spans (they contain stages) are a thin strip along the top instead of a band."""
    seen: set[str] = set()
    for label, t0, t1 in spans:
        if label in PHASE_SPANS:
            colour = PHASE_SPANS[label]
            fig.add_vrect(x0=t0, x1=t1, y0=0.97, y1=1.0, fillcolor=colour, opacity=0.7, line_width=0.5,
                          line_color="white")
        else:
            colour = STAGE_COLORS.get(label, "#e9ecef")
            wide = x_range > 0 and (t1 - t0) / x_range >= MIN_LABELLED_BAND and label not in seen
            # Plotly adds a "new text" placeholder whenever any annotation_* argument is passed.
            text = dict(annotation_text=label, annotation_position="top left", annotation_font_size=11,
                        annotation_y=0.96) if wide else {}
            fig.add_vrect(x0=t0, x1=t1, fillcolor=colour, opacity=0.3, line_width=0, layer="below", **text)
        if label not in seen:
            seen.add(label)
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, legendgroup="stages",
                                     marker=dict(symbol="square", size=12, color=colour, opacity=0.6)))


def _mb(values: Iterable[int]) -> list[float]:
    return [v / MB for v in values]


def rss_timeline(trace: MemoryTrace, title: str = "Resident memory during the run",
                 before: tuple[str, float, int] | None = None) -> go.Figure:
    """RSS over time, a shaded band per pipeline stage, and before / peak / after markers.

    `before` = (name, t, bytes) replaces the trace's own starting point, so the marker shows the same
    baseline as the figures beside the chart (an isolated run's is RSS with the model loaded)."""
    fig = go.Figure()
    ts = [s.t for s in trace.samples]
    fig.add_trace(go.Scatter(x=ts, y=_mb(s.rss for s in trace.samples), mode="lines", name="RSS",
                             line=dict(color=SERIES_COLORS[0], width=2),
                             hovertemplate="%{x:.3f} s<br>%{y:.1f} MB<extra></extra>"))
    end = ts[-1] if ts else trace.duration
    _stage_bands(fig, trace.spans(), end)
    peak_t = next((s.t for s in trace.samples if s.rss == trace.peak), None)
    if peak_t is None:  # the peak came from the kernel's high-water mark, between two samples
        peak_t = max(trace.samples, key=lambda s: s.rss).t if trace.samples else 0.0
    name0, t0, v0 = before or ("before", 0.0, trace.before)
    points = [(name0, t0, v0, "circle", "#495057"),
              ("after", end, trace.after, "square", "#2ca02c"),
              ("peak", peak_t, trace.peak, "triangle-up", "#d62728")]  # last: drawn on top when peak ≈ after
    for name, t, value, symbol, colour in points:
        fig.add_trace(go.Scatter(x=[t], y=[value / MB], mode="markers", name=f"{name} {value / MB:.0f} MB",
                                 marker=dict(symbol=symbol, size=12, color=colour, line=dict(width=1, color="white")),
                                 hovertemplate=f"{name}: %{{y:.1f}} MB<extra></extra>"))
    # The legend flows below the plot in rows ("normal" order: grouped entries would stack in one tall
    # column), clear of the axis title; beside the plot, nine entries squeezed it and overflowed at 1280 px.
    legend = dict(orientation="h", traceorder="normal", yanchor="top", y=-0.22, xanchor="left", x=0.0)
    fig.update_layout(title=title, xaxis_title="seconds", yaxis_title="RSS (MB)",
                      **{**LAYOUT, "height": 440, "legend": legend})
    values = [s.rss for s in trace.samples] + [v0, trace.after, trace.peak]
    fig.update_yaxes(range=list(noise.y_range(min(values), max(values))))
    return fig


def live_rss(points: Sequence[tuple[float, int]], title: str = "Server RSS, live") -> go.Figure:
    """A plain RSS line from (seconds, bytes) points, for redrawing while a run is still going."""
    fig = go.Figure(go.Scatter(x=[t for t, _ in points], y=[r / MB for _, r in points], mode="lines+markers",
                               line=dict(color=SERIES_COLORS[0], width=2), marker=dict(size=4), name="RSS"))
    fig.update_layout(title=title, xaxis_title="seconds", yaxis_title="RSS (MB)", showlegend=False, **LAYOUT)
    if points:
        fig.update_yaxes(range=list(noise.y_range(min(r for _, r in points), max(r for _, r in points))))
    return fig


def rss_overlay(traces: Mapping[str, MemoryTrace], title: str = "RSS of each run, aligned at its start",
                relative: bool = True) -> go.Figure:
    """Several runs' RSS on one chart. `relative` plots RSS − before, so runs that started at
    different levels (an in-process history) are comparable."""
    fig = go.Figure()
    for i, (name, trace) in enumerate(traces.items()):
        base = trace.before if relative else 0
        fig.add_trace(go.Scatter(
            x=[s.t for s in trace.samples], y=_mb(s.rss - base for s in trace.samples), mode="lines", name=name,
            line=dict(color=SERIES_COLORS[i % len(SERIES_COLORS)], width=2),
            hovertemplate=f"{name}<br>%{{x:.3f}} s<br>%{{y:.1f}} MB<extra></extra>"))
    y_title = "RSS above the run's start (MB)" if relative else "RSS (MB)"
    fig.update_layout(title=title, xaxis_title="seconds", yaxis_title=y_title, **LAYOUT)
    values = [s.rss - (t.before if relative else 0) for t in traces.values() for s in t.samples]
    if values:
        fig.update_yaxes(range=list(noise.y_range(min(values), max(values))))
    return fig


def stage_timings(timings: Mapping[str, float], title: str = "Time per stage") -> go.Figure:
    """Horizontal bars, one per stage, in pipeline order ("total" is left out: it is the sum)."""
    stages = [(k, v) for k, v in timings.items() if k != "total"]
    fig = go.Figure(go.Bar(
        x=[v * 1000 for _, v in stages], y=[k for k, _ in stages], orientation="h",
        marker_color=[STAGE_COLORS.get(k, "#adb5bd") for k, _ in stages],
        text=[f"{v * 1000:.0f} ms" for _, v in stages], textposition="auto",
        hovertemplate="%{y}: %{x:.1f} ms<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="milliseconds", **{**LAYOUT, "height": 60 + 34 * max(1, len(stages))})
    fig.update_yaxes(autorange="reversed")
    return fig


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower is better on both)."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 <= x and y2 <= y) and (x2 < x or y2 < y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def pareto(records: Sequence[Mapping], recommended: str | None = None,
           title: str = "Latency vs memory kept (marker size = peak RSS)") -> go.Figure:
    """One marker per configuration: x = median latency (s), y = retained RSS (MB), size = peak RSS.

    Records need "label", "latency" (seconds), "retained" and "peak" (bytes); an optional bool
    "pareto" says whether the sweep put it on its front (else the front on these two axes is
    computed), optional "number" is written inside the marker (the row of the table beside the
    chart; default its position + 1) and optional "low"/"high" (seconds) draw the latency's interval.
    Front markers are coloured, the rest grey; the `recommended` label gets a star.
    """
    xs = [float(r["latency"]) for r in records]
    ys = [r["retained"] / MB for r in records]
    peaks = [r["peak"] / MB for r in records]
    labels = [str(r["label"]) for r in records]
    numbers = [str(r.get("number", i + 1)) for i, r in enumerate(records)]
    if records and all("pareto" in r for r in records):
        on_front = [bool(r["pareto"]) for r in records]
    else:
        front = set(pareto_front(list(zip(xs, ys))))
        on_front = [i in front for i in range(len(records))]
    biggest = max(peaks, default=1.0) or 1.0
    fig = go.Figure()
    for wanted, name, colour in ((True, "Pareto front", SERIES_COLORS[0]), (False, "dominated", "#868e96")):
        idx = [i for i in range(len(records)) if on_front[i] == wanted]
        if not idx:
            continue
        # Every marker carries its number inside it (names are in the table and on hover): a label
        # beside a marker overlaps its neighbours' once a dozen configurations crowd together.
        bars = all(records[i].get("low") is not None and records[i].get("high") is not None for i in idx)
        fig.add_trace(go.Scatter(
            x=[xs[i] for i in idx], y=[ys[i] for i in idx], mode="markers+text", name=name,
            text=[numbers[i] for i in idx], textposition="middle center",
            textfont=dict(size=11, color="white", family="sans-serif"), cliponaxis=False,
            customdata=[[peaks[i], labels[i]] for i in idx],
            error_x=dict(type="data", symmetric=False, array=[records[i]["high"] - xs[i] for i in idx],
                         arrayminus=[xs[i] - records[i]["low"] for i in idx], thickness=1.2, width=4,
                         color=colour) if bars else None,
            marker=dict(size=[18 + 32 * peaks[i] / biggest for i in idx], color=colour, opacity=0.8,
                        line=dict(width=1, color="white")),
            hovertemplate="%{text}: %{customdata[1]}<br>%{x:.3f} s<br>retained %{y:.0f} MB<br>"
                          "peak %{customdata[0]:.0f} MB<extra></extra>"))
    if recommended is not None and recommended in labels:
        i = labels.index(recommended)
        # a gold ring around the marker, not a star on it: its number stays readable
        fig.add_trace(go.Scatter(x=[xs[i]], y=[ys[i]], mode="markers", name="recommended", cliponaxis=False,
                                 marker=dict(symbol="circle-open", size=18 + 32 * peaks[i] / biggest + 10,
                                             color="#e09f00", line=dict(width=3, color="#e09f00")),
                                 hoverinfo="skip"))
    fig.update_layout(title=title, xaxis_title="median latency per image (s)", yaxis_title="retained RSS (MB)",
                      **{**LAYOUT, "height": 480, "margin": dict(l=10, r=40, t=60, b=10)})
    # room around the extreme points, so the biggest markers, their labels and the star are never cut
    if xs:
        # the intervals' ends count too: a bar is drawn whole, its caps visible, not cut at the frame
        lows = [r["low"] for r in records if r.get("low") is not None] + xs
        highs = [r["high"] for r in records if r.get("high") is not None] + xs
        span_x = (max(highs) - min(lows)) or max(xs) or 1.0
        span_y = (max(ys) - min(ys)) or max(ys) or 1.0
        fig.update_xaxes(range=[min(lows) - 0.08 * span_x, max(highs) + 0.08 * span_x])
        fig.update_yaxes(range=[min(ys) - 0.2 * span_y, max(ys) + 0.2 * span_y])
    return fig


# --- batch ------------------------------------------------------------------------------

def batch_rss(rss_values: Sequence[int], statuses: Sequence[str] | None = None, warmup: int = 5,
              drift: float | None = None, title: str = "RSS over the batch") -> go.Figure:
    """Process RSS after each item: flat after the warm-up means nothing accumulates per image.

    `statuses` ("ok", "cached", "error") colour the markers; the warm-up items are shaded and the
    post-warm-up baseline (median) is a dashed line; `drift` (a fraction) goes in the title.
    """
    n = len(rss_values)
    xs = list(range(1, n + 1))
    ys = _mb(rss_values)
    statuses = list(statuses) if statuses is not None else ["ok"] * n
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", name="RSS", line=dict(color=SERIES_COLORS[0], width=2),
                               hovertemplate="item %{x}<br>%{y:.1f} MB<extra></extra>"))
    colours = {"ok": SERIES_COLORS[2], "cached": "#adb5bd", "error": SERIES_COLORS[1]}
    for status, colour in colours.items():
        idx = [i for i, s in enumerate(statuses) if s == status]
        if idx:
            fig.add_trace(go.Scatter(x=[xs[i] for i in idx], y=[ys[i] for i in idx], mode="markers", name=status,
                                     marker=dict(color=colour, size=6), hovertemplate=f"{status}: item %{{x}}<br>"
                                     "%{y:.1f} MB<extra></extra>"))
    if 0 < warmup < n:
        fig.add_vrect(x0=0.5, x1=warmup + 0.5, fillcolor=STAGE_COLORS["warmup"], opacity=0.5, line_width=0,
                      layer="below", annotation_text="warm-up", annotation_position="top left")
        after = sorted(ys[warmup:])
        fig.add_hline(y=after[len(after) // 2], line_dash="dash", line_color="#495057",
                      annotation_text="median after warm-up", annotation_position="bottom right")
    if drift is not None:
        title = f"{title} — drift after warm-up {100 * drift:+.1f} %"
    fig.update_layout(title=title, xaxis_title="item", yaxis_title="RSS (MB)", **LAYOUT)
    if ys:  # a zero-based axis would flatten real growth; a too-tight one would magnify noise
        lo, hi = min(ys), max(ys)
        pad = max(20.0, 0.1 * hi)
        fig.update_yaxes(range=[max(0.0, lo - pad), hi + pad])
    return fig
