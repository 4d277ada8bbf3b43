"""Isolated runs in real child processes, the sweep and its JSON, the idle policy."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import ROOT, png_bytes, subject_image

from rembg_core import session as sessions
from rembg_core.bench import (SCHEMA, BenchConfig, ProbeRecord, SweepResult, config_set, pareto_flags, recommend,
                              run_idle_probe, run_isolated, sweep)
from rembg_core.idle import IdleReleaser
from rembg_core.memory import MB
from rembg_core.probe import FAULT_ENV
from rembg_core.session import SessionConfig

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory, model_path):
    path = tmp_path_factory.mktemp("bench") / "tiny.png"
    path.write_bytes(png_bytes(subject_image((160, 120))))
    return path


def test_run_isolated_returns_a_full_record(tiny_image):
    record = run_isolated(BenchConfig(), tiny_image, repeats=2, warmups=2)
    assert record.ok, record.reason
    assert len(record.latencies) == 2 and record.median_latency > 0
    assert record.peak >= record.after > record.baseline > record.start_rss > 0
    assert record.retained == record.after - record.baseline
    assert {"load", "preprocess", "inference", "postprocess", "compose", "total"} <= set(record.stages)
    assert record.meta["onnxruntime"] and record.meta["numpy"] and record.meta["pillow"]
    assert record.meta["image_size"] == [160, 120] and record.meta["cpu_count"] >= 1
    labels = {m.label for m in record.trace.marks}
    assert {"session", "warmup", "run", "inference"} <= labels
    assert ProbeRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


@pytest.mark.parametrize("fault, expected", [
    ("abort", "crashed (SIGABRT)"),
    ("exit", "exited with status 7"),
    ("garbage", "printed no valid JSON"),
])
def test_a_failing_child_comes_back_as_a_record(tiny_image, fault, expected):
    record = run_isolated(BenchConfig(), tiny_image, repeats=1, warmups=0, env={FAULT_ENV: fault})
    assert not record.ok
    assert record.reason.startswith(expected), record.reason
    assert record.latencies == () and record.median_latency is None


def test_a_hanging_child_is_killed_at_the_timeout(tiny_image):
    t0 = time.monotonic()
    record = run_isolated(BenchConfig(), tiny_image, repeats=1, timeout=2, env={FAULT_ENV: "hang"})
    assert not record.ok and record.reason.startswith("timed out after 2 s")
    assert time.monotonic() - t0 < 30


def test_child_gets_the_configs_environment(tiny_image):
    config = BenchConfig(enable_cpu_mem_arena=False, env=(("MALLOC_ARENA_MAX", "2"),))
    record = run_isolated(config, tiny_image, repeats=1, warmups=0)
    assert record.ok, record.reason
    assert record.meta["malloc_env"] == {"MALLOC_ARENA_MAX": "2"}
    assert "MALLOC_ARENA_MAX=2" in record.config.name


def test_arena_extend_strategy_runs(tiny_image):
    record = run_isolated(BenchConfig(arena_extend_strategy="same_as_requested"), tiny_image, repeats=1, warmups=1)
    assert record.ok, record.reason
    with pytest.raises(ValueError):
        BenchConfig(enable_cpu_mem_arena=False, arena_extend_strategy="same_as_requested")


def test_config_sets():
    assert len(config_set("flags")) == 4
    full = config_set("full")
    assert len(full) > 4 and len({c.name for c in full}) == len(full)
    with pytest.raises(ValueError):
        config_set("everything")


def _record(name, latency, retained, peak):
    return ProbeRecord(BenchConfig(name=name), "x.png", True, latencies=(latency,), baseline=100 * MB,
                       after=100 * MB + retained * MB, peak=100 * MB + peak * MB)


def test_pareto_and_recommendation():
    fast = _record("fast", 0.20, 400, 500)
    lean = _record("lean", 0.30, 30, 300)
    worse = _record("worse", 0.35, 40, 350)  # slower, fatter and higher than lean
    failed = ProbeRecord(BenchConfig(name="broken"), "x.png", False, reason="crashed")
    records = [fast, lean, worse, failed]
    assert pareto_flags(records) == (True, True, False, False)
    line = recommend(records, pareto_flags(records))
    assert line.startswith("recommended: fast") and "leanest: lean" in line
    near = _record("near", 0.21, 50, 350)
    assert recommend([fast, near], pareto_flags([fast, near])).startswith("recommended: near")


def test_sweep_calls_progress_and_warns(tiny_image):
    seen = []
    configs = [BenchConfig(), BenchConfig(enable_cpu_mem_arena=False)]
    result = sweep(tiny_image, configs, repeats=1, warmups=1, progress=lambda d, t, r: seen.append((d, t, r.ok)))
    assert seen == [(1, 2, True), (2, 2, True)]
    assert len(result.records) == 2 and len(result.pareto) == 2
    assert result.recommendation.startswith("recommended:")
    assert SweepResult.from_dict(json.loads(json.dumps(result.to_dict()))).records == result.records


@pytest.mark.slow
def test_bench_cli_writes_records_and_arena_off_retains_less(tiny_image, tmp_path):
    out, csv_out = tmp_path / "out.json", tmp_path / "out.csv"
    p = subprocess.run([sys.executable, "-m", "rembg_core", "bench", "--image", str(tiny_image), "--configs", "flags",
                        "--repeats", "1", "--json", str(out), "--csv", str(csv_out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "recommended:" in p.stdout and "s/image" in p.stdout
    assert p.stderr.count("[") >= 4  # one progress line per config
    doc = json.loads(out.read_text())
    assert doc["schema"] == SCHEMA
    assert {"image", "max_size", "repeats", "warmups", "recommendation", "warnings", "records"} <= set(doc)
    assert len(doc["records"]) == 4
    for r in doc["records"]:
        assert r["ok"], r["reason"]
        assert {"config", "latencies", "median_latency", "spread", "stages", "baseline", "after", "peak",
                "retained", "release_ratio", "pareto", "trace", "meta"} <= set(r)
        assert {"samples", "marks", "before", "after", "peak"} <= set(r["trace"])
    by = {(r["config"]["enable_cpu_mem_arena"], r["config"]["enable_mem_pattern"]): r for r in doc["records"]}
    # the arena keeps what it grew to; without it most is handed back (hundreds of MB apart for u2netp)
    for pattern in (True, False):
        assert by[(False, pattern)]["retained"] < by[(True, pattern)]["retained"]
    assert csv_out.read_text().splitlines()[0].startswith("config,ok,pareto,median_s")


def test_bench_cli_refuses_a_bad_image_in_one_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    p = subprocess.run([sys.executable, "-m", "rembg_core", "bench", "--image", str(bad)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f"error: {bad}: not an image: this is a text file"]


# --- idle policy -------------------------------------------------------------------

def test_idle_releaser_drops_an_idle_session_and_rebuilds_it(model_path):
    config = SessionConfig(enable_mem_pattern=False, intra_op_num_threads=1)  # its own cache entry
    sessions.release(config)
    with IdleReleaser(idle_after=0.3) as policy:
        with policy.lease(config) as first:
            assert config in sessions.cached_configs()
            time.sleep(0.6)  # longer than idle_after, but leased: must stay
            assert config in sessions.cached_configs() and policy.releases == 0
        deadline = time.monotonic() + 10
        while policy.releases == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert policy.releases == 1
        assert config not in sessions.cached_configs()
        assert policy.events()[0].idle_seconds >= 0.3
        assert policy.watched() == []
        with policy.lease(config) as again:
            assert config in sessions.cached_configs()
            assert again is not first  # re-created, not the dropped one
        assert policy.idle_seconds(config) is not None
    sessions.release(config)


def test_idle_releaser_leaves_a_busy_config_alone(model_path):
    config = SessionConfig(enable_mem_pattern=False, intra_op_num_threads=1)
    sessions.get_session(config)  # loaded beforehand: only the gaps between uses count
    with IdleReleaser(idle_after=2.0) as policy:
        for _ in range(6):  # used far more often than idle_after
            policy.get(config)
            time.sleep(0.05)
        assert policy.releases == 0
    sessions.release(config)
    with pytest.raises(ValueError):
        IdleReleaser(idle_after=0)


@pytest.mark.slow
def test_idle_probe_gives_the_arena_back(tiny_image):
    record = run_idle_probe(BenchConfig(), tiny_image, idle_after=0.5, idle_wait=1.5, burst=3)
    assert record.ok, record.reason
    assert record.releases == 1
    assert len(record.latencies) == 3 and record.first_after_idle > 0
    # structural: the session and its arena are gone while idle
    assert record.idle_rss < record.busy_rss - 100 * MB
