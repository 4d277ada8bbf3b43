"""Plotly figures for a load run: memory of each process in the server's tree, status codes over time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import plotly.graph_objects as go

from ..load.results import RequestSample
from ..load.tree import TreeSample
from .charts import LAYOUT, SERIES_COLORS

MB = 1024 * 1024
DASH = {"rss": "solid", "pss": "dash", "uss": "dot"}


def tree_memory(samples: Sequence[TreeSample], title: str = "Memory per process (RSS solid, PSS dashed, USS dotted)") -> go.Figure:
    fig = go.Figure()
    t0 = samples[0].t if samples else 0.0
    pids = sorted({p.pid for s in samples for p in s.procs}, key=lambda pid: (pid != _master(samples), pid))
    for i, pid in enumerate(pids):
        role = "master" if pid == _master(samples) else "worker"
        for kind in ("rss", "pss", "uss"):
            points = [(s.t - t0, getattr(p, kind)) for s in samples for p in s.procs if p.pid == pid]
            points = [(t, v) for t, v in points if v is not None]
            if points:
                fig.add_trace(go.Scatter(x=[t for t, _ in points], y=[v / MB for _, v in points], mode="lines",
                                         name=f"{role} {pid} {kind.upper()}",
                                         line=dict(color=SERIES_COLORS[i % len(SERIES_COLORS)], dash=DASH[kind])))
    fig.update_layout(title=title, xaxis_title="seconds", yaxis_title="MB", **LAYOUT)
    return fig


def _master(samples: Sequence[TreeSample]) -> int | None:
    for s in samples:
        for p in s.procs:
            if p.role == "master":
                return p.pid
    return None


def status_timeline(samples: Sequence[RequestSample], bucket: float = 1.0,
                    title: str = "Responses per second, by status") -> go.Figure:
    counts: Counter[tuple[int, str]] = Counter()
    for s in samples:
        counts[(int((s.started + s.seconds) // bucket), "error" if s.status == 0 else str(s.status))] += 1
    fig = go.Figure()
    statuses = sorted({k for _, k in counts})
    end = max((b for b, _ in counts), default=0)
    for status in statuses:
        xs = list(range(end + 1))
        fig.add_trace(go.Bar(x=[x * bucket for x in xs], y=[counts[(x, status)] / bucket for x in xs], name=status,
                             marker_color={"200": "#2ca02c", "503": "#ff7f0e"}.get(status, "#d62728")))
    fig.update_layout(title=title, barmode="stack", xaxis_title="seconds", yaxis_title="responses / s", **LAYOUT)
    return fig
